"""One date format on the staff pages and in the admin, with the time zone shown (the admin's own date
columns take Django's per-language formats, not the DATETIME_FORMAT setting)."""

from crm.templatetags.leadflow import DATETIME_FORMAT

SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
