"""Russian formats: the day first, with dots (23.11.2026 16:40 UTC); 24-hour time and the time zone's name
as in English, in the admin too (Django's own Russian DATETIME_FORMAT, "23 ноября 2026 г. 16:40", has no
zone). Date filters are typed day first and also take ISO dates (2026-11-23), which links use.
"""

DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "d.m.Y H:i T"
DATE_FORMAT = SHORT_DATE_FORMAT = "d.m.Y"
TIME_FORMAT = "H:i"
DATE_INPUT_FORMATS = ["%d.%m.%Y", "%Y-%m-%d"]
