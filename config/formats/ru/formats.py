"""One date format on the staff pages and in the admin, with the time zone shown (the admin's own date
columns take Django's per-language formats, not the DATETIME_FORMAT setting). Russian writes the day first,
with dots (23.11.2026 16:40 UTC); 24-hour time and the zone's name as in English."""

SHORT_DATETIME_FORMAT = "d.m.Y H:i T"
DATE_FORMAT = SHORT_DATE_FORMAT = "d.m.Y"
TIME_FORMAT = "H:i"
