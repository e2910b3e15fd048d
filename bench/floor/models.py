from django.db import models


class Contact(models.Model):
    """One posted contact; external_id is unique, as a lead's is in the app."""

    external_id = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        db_table = "bench_floor_contact"
