"""Benchmark-only URLs; config/urls.py mounts them at bench/ only when settings.BENCH_FLOOR is true."""

from django.urls import path

from bench import floor

urlpatterns = [
    path("floor/", floor.floor, name="bench_floor"),
]
