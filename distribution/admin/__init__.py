"""The admin of everything that decides who takes contacts: operators, sources with their weights and
tokens, and the contacts themselves with the supervisors' assignment actions. (Leads: crm.admin.)"""

from distribution.admin import contacts, operators, schedule, sources  # noqa: F401  (importing registers them)
