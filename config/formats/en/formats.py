"""English formats: one date-and-time format on the staff pages and in the admin, ISO-like, 24 h, with the
time zone's name (2026-11-23 16:40 UTC), so a supervisor in another zone never has to guess.

Django reads DATETIME_FORMAT for the admin's own date columns and read-only fields, and the pages' `when`
filter reads SHORT_DATETIME_FORMAT: both are the one format. Date filters are typed year first.
"""

DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
