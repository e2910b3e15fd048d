"""Template filters of the staff pages and the admin: the one date format, labels of stored codes, and the
explanation of an assignment in plain words.

Labels are read from crm.choices (never retyped in templates); sentences are built here, each one a
translatable string, so a template only lays them out.
"""

import json
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils import dateformat, formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from crm.choices import (
    API_ACTOR_PREFIX,
    Actor,
    AssignmentPath,
    Exclusion,
    LoadState,
    Strategy,
    UnassignedReason,
)
from crm.history import WORKER, author_label
from crm.models import Source

register = template.Library()


@register.filter
def when(value: datetime | None) -> str:
    """A moment as text in the active language's one format, in the current time zone ("2026-11-23 16:40
    UTC", in Russian "23.11.2026 16:40 UTC"). The format is the language's DATETIME_FORMAT
    (config/formats/<lang>), which the admin's own date columns and read-only fields use too."""
    if value is None:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return dateformat.format(value, formats.get_format("DATETIME_FORMAT"))


@register.filter
def waited(since: datetime | None, now: datetime | None) -> str:
    """How long from `since` to `now`, short and exact to the minute: "2 h 5 min", "3 d 4 h", "12 min",
    "less than a minute" (Django's timesince rounds to the larger unit: "2 hours")."""
    if since is None or now is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours and not minutes:
        return _("%(hours)d h") % {"hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return _("%(minutes)d min") % {"minutes": minutes}
    return _("less than a minute")


@register.filter
def time_tag(value: datetime | None) -> str:
    """A moment as a <time> element (machine-readable attribute, the one format as text)."""
    if value is None:
        return "—"
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), when(value))


@register.filter
def reason_label(code: str | None) -> str:
    return _label(UnassignedReason, code)


@register.filter
def exclusion_label(code: str | None) -> str:
    return _label(Exclusion, code)


@register.filter
def path_label(code: str | None) -> str:
    return _label(AssignmentPath, code)


@register.filter
def load_state_label(code: str | None) -> str:
    return _label(LoadState, code)


@register.filter
def actor_label(by: str | None) -> str:
    """Who or what assigned a contact (the explanation's `by`) in words: "on arrival", "by anna", "through
    the API key provisioning", "from the queue as soon as capacity appeared"."""
    if not by:
        return ""
    if by.startswith(API_ACTOR_PREFIX):
        return _("through the API key %(name)s") % {"name": by.removeprefix(API_ACTOR_PREFIX)}
    if by in Actor.values:
        return _label(Actor, by)
    if by == WORKER:
        return author_label(by)  # "the worker (a timed job)", not "by worker"
    return _("by %(by)s") % {"by": by}


@register.filter
def explanation_actor(explanation: dict | None) -> str:
    """The explanation's `by` in words, or "" when its path's label says it already ("weighted draw on
    arrival" needs no "on arrival" after it)."""
    if not explanation:
        return ""
    actor = actor_label(explanation.get("by"))
    return "" if actor.lower() in path_label(explanation.get("path")).lower() else actor


def _label(choices: type, code: str | None) -> str:
    if not code:
        return ""
    try:
        return str(choices(code).label)
    except ValueError:  # a code from an older version: show it rather than fail the page
        return code


@register.filter(name="share")
def format_share(part: int | None, whole: int | None) -> str:
    """`part` of `whole` as a percent with one decimal in the language's notation ("66.7%", "66,7%"); the
    one way the admin's weight inline and the dashboard write a share. Rounded half up from the exact
    fraction: number_format alone would cut 66.66… to 66.6, and float rounding turns 6.25 into 6.2."""
    if not whole:
        return "—"
    value = (Decimal(100 * (part or 0)) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{formats.number_format(value, 1)}%"


@register.filter
def percent(p: float | None) -> str:
    """A probability (0..1) as a whole percent, "<1%" for a real but tiny chance."""
    if not p:
        return "0%"
    return "<1%" if p < 0.005 else f"{round(100 * p)}%"


# Paths on which no weighted draw decided: the chances stored with them mean nothing to a reader.
NO_DRAW_PATHS = (AssignmentPath.STICKY, AssignmentPath.MANUAL, AssignmentPath.MANUAL_OVERRIDE)
MANUAL_PATHS = (AssignmentPath.MANUAL, AssignmentPath.MANUAL_OVERRIDE)


@register.filter
def explanation_sentences(explanation: dict | None) -> list[str]:
    """What happened to a contact, in a few sentences a supervisor reads at a glance.

    The stored explanation (distribution.selection.explain plus path/at/by/sticky/outside_source) is exact
    but terse; the exact numbers stay one click away in the table under these sentences. Each sentence
    says what is known: which state kept an operator out, not "full or switched off".
    """
    if not explanation or explanation.get("candidates") is None:
        return []
    candidates = explanation["candidates"]
    by_id = {c["operator_id"]: c for c in candidates}
    chosen = by_id.get(explanation.get("chosen"))
    sentences = []

    sticky = explanation.get("sticky")
    if sticky:
        previous = _name(by_id.get(sticky.get("operator_id")), sticky.get("operator_id"))
        if sticky.get("fallback"):
            sentences.append(
                _(
                    "A returning lead: their previous operator %(name)s could not take it (%(why)s), so the usual draw ran."
                )
                % {"name": previous, "why": exclusion_label(sticky["fallback"])}
            )
        elif chosen:
            sentences.append(
                _("A returning lead: back to %(name)s, who handled their previous contact.")
                % {"name": previous}
            )

    path = explanation.get("path")
    named = set()  # operators a sentence has already said why they were left out
    if chosen and path in MANUAL_PATHS:
        if explanation.get("outside_source"):
            sentences.append(
                _("%(name)s was chosen by hand from outside the source's operators.")
                % {"name": _name(chosen)}
            )
        else:
            sentences.append(_("%(name)s was chosen by hand.") % {"name": _name(chosen)})
        if path == AssignmentPath.MANUAL_OVERRIDE:
            sentences.append(
                _("The supervisor confirmed it although the operator was %(why)s.")
                % {"why": _state(chosen) or _("full or switched off")}
            )
            return sentences  # the operator's own state is the whole story of an override
    elif chosen and path != AssignmentPath.STICKY and explanation.get("strategy"):
        sentences.append(_strategy_sentence(explanation, chosen))
    elif chosen and path != AssignmentPath.STICKY:
        in_draw = [c for c in candidates if c.get("p")]
        if len(in_draw) <= 1:
            sentences.append(
                _("%(name)s got it: the only operator who could take it.") % {"name": _name(chosen)}
            )
        else:
            sentences.append(
                ngettext(
                    "%(name)s got it in a weighted draw among %(count)d operator who could take it (a %(chance)s chance).",
                    "%(name)s got it in a weighted draw among %(count)d operators who could take it (a %(chance)s chance).",
                    len(in_draw),
                )
                % {
                    "name": _name(chosen),
                    "count": len(in_draw),
                    "chance": percent(chosen.get("p")),
                }
            )
        earlier = [by_id.get(op) or {"operator_id": op} for op in explanation.get("draws", [])[:-1]]
        if earlier:
            landed = [
                _("%(name)s (%(why)s)") % {"name": _name(c), "why": _state(c) or _("full or switched off")}
                for c in earlier
            ]
            sentences.append(
                _("The draw first landed on %(names)s, so it was repeated.") % {"names": _join(landed)}
            )
            named = {c["operator_id"] for c in earlier}
    elif not chosen:
        sentences.append(
            _("Nobody could take it: %(why)s.") % {"why": reason_label(explanation.get("reason"))}
        )

    sentences.extend(_skills_sentences(explanation.get("skills")))

    left_out = [
        c for c in candidates if c.get("excluded") and c is not chosen and c["operator_id"] not in named
    ]
    # Each operator left out once, by the first rule that kept them out (crm.eligibility.exclusion's order).
    for code in Exclusion:
        names = [_name(c) for c in left_out if c["excluded"] == code]
        if names:
            sentences.append(
                ngettext(
                    "Left out: %(names)s (%(why)s).",
                    "Left out: %(names)s (%(why)s).",
                    len(names),
                )
                % {"names": _join(names), "why": exclusion_label(code)}
            )
    return sentences


def _strategy_sentence(explanation: dict, chosen: dict) -> str:
    """How round robin or least loaded chose: the chosen operator's key, and whether a tie was broken."""
    tied = len([c for c in explanation["candidates"] if c.get("p")])
    if explanation["strategy"] == Strategy.ROUND_ROBIN:
        given = parse_when(chosen.get("key"))
        if given is None:
            sentence = _("%(name)s got it by round robin: never given one of this source's contacts before.")
        else:
            sentence = _(
                "%(name)s got it by round robin: given one of this source's contacts longest ago (%(when)s)."
            )
        sentence %= {"name": _name(chosen), "when": when(given) if given else ""}
    else:
        sentence = _("%(name)s got it as the least loaded: %(share)s of their limit.") % {
            "name": _name(chosen),
            "share": percent(chosen.get("key")),
        }
    if tied > 1:
        sentence += " " + ngettext(
            "Tied with %(count)d other operator; the tie was broken at random.",
            "Tied with %(count)d other operators; the tie was broken at random.",
            tied - 1,
        ) % {"count": tied - 1}
    return sentence


def _skills_sentences(skills: dict | None) -> list[str]:
    """The skills the choice applied: required (and those nobody there holds), preferred."""
    if not skills:
        return []
    sentences = []
    if skills.get("required"):
        sentences.append(_("Required skills: %(names)s.") % {"names": ", ".join(skills["required"])})
    if skills.get("missing"):
        sentences.append(_("Nobody who is there holds: %(names)s.") % {"names": ", ".join(skills["missing"])})
    if skills.get("preferred"):
        sentences.append(_("Preferred skills: %(names)s.") % {"names": ", ".join(skills["preferred"])})
    return sentences


def _state(candidate: dict) -> str:
    """Why this operator could not take a contact, in words, from what the choice saw: switched off, at the
    load limit, or the stored exclusion; "" when nothing says (an operator the explanation does not list)."""
    if candidate.get("active") is False:
        return exclusion_label(Exclusion.INACTIVE)
    limit, load = candidate.get("limit"), candidate.get("load")
    if limit is not None and (limit <= 0 or (load is not None and load >= limit)):
        return exclusion_label(Exclusion.AT_LIMIT)
    return exclusion_label(candidate.get("excluded"))


@register.filter
def draw_decided(explanation: dict | None) -> bool:
    """Whether a weighted draw chose the operator, so that each candidate's chance means something (not a
    returning lead sent back to their operator, nor a supervisor's pick)."""
    return bool(explanation) and explanation.get("path") not in NO_DRAW_PATHS


@register.filter
def explanation_rows(explanation: dict | None) -> list[dict]:
    """The explanation's candidates as the "exact numbers" table shows them: status and chance in words,
    "—" for a chance where no draw decided."""
    if not explanation or not explanation.get("candidates"):
        return []
    chosen, drawn = explanation.get("chosen"), draw_decided(explanation)
    by_hand = explanation.get("path") in MANUAL_PATHS
    rows = []
    for c in explanation["candidates"]:
        if c["operator_id"] == chosen:
            status = _("chosen by hand") if by_hand else _("chosen")
        elif c.get("excluded"):
            status = exclusion_label(c["excluded"])
        else:
            status = _("could take it")
        rows.append(
            {
                **c,
                "chosen": c["operator_id"] == chosen,
                "status": status,
                "chance": percent(c.get("p")) if drawn else "—",
                "key_shown": _key_shown(explanation.get("strategy"), c.get("key")),
            }
        )
    return rows


def _key_shown(strategy: str | None, key: str | float | None) -> str:
    """A candidate's key in the "exact numbers": when last given one (round robin), load ÷ limit."""
    if strategy == Strategy.ROUND_ROBIN:
        given = parse_when(key)
        return when(given) if given else _("never")
    if strategy == Strategy.LEAST_LOADED:
        return "—" if key is None else f"{round(100 * key)}%"
    return ""


@register.filter
def strategy_key_heading(strategy: str | None) -> str:
    """The "exact numbers" column of the key the strategy chose by (none for the weighted draw)."""
    if strategy == Strategy.ROUND_ROBIN:
        return _("Last given one")
    if strategy == Strategy.LEAST_LOADED:
        return _("Load ÷ limit")
    return ""


def _name(candidate: dict | None, operator_id: int | None = None) -> str:
    if candidate and candidate.get("name"):
        return candidate["name"]
    return _("operator #%(id)s") % {"id": candidate["operator_id"] if candidate else operator_id}


def _join(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return _("%(first)s and %(last)s") % {
        "first": ", ".join(names[:-1]),
        "last": names[-1],
    }


@register.filter
def parse_when(value: str | None) -> datetime | None:
    """The explanation's `at` (ISO text in JSON) back as a moment, for `when`/`time_tag`."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


# --- Charts: server-rendered SVG (no JavaScript). The tags compute the geometry; the templates draw it. ---

CHART_WIDTH, CHART_HEIGHT, CHART_TOP = 480, 120, 14


@register.inclusion_tag("crm/_bar_chart.svg")
def bar_chart(buckets: list, *, unit: str = "hour", title: str = "") -> dict:
    """Stacked bars, one per bucket (selectors.Bucket): assigned below, still waiting above."""
    peak = max((b.total for b in buckets), default=0) or 1
    slot = CHART_WIDTH / max(len(buckets), 1)
    height = CHART_HEIGHT - CHART_TOP
    bars = []
    for i, bucket in enumerate(buckets):
        assigned_h = height * bucket.assigned / peak
        waiting_h = height * bucket.unassigned / peak
        bars.append(
            {
                "bucket": bucket,
                "x": round(i * slot + slot * 0.1, 2),
                "width": round(slot * 0.8, 2),
                "assigned_y": round(CHART_HEIGHT - assigned_h, 2),
                "assigned_h": round(assigned_h, 2),
                "waiting_y": round(CHART_HEIGHT - assigned_h - waiting_h, 2),
                "waiting_h": round(waiting_h, 2),
            }
        )
    return {
        "bars": bars,
        "peak": peak if any(b.total for b in buckets) else 0,
        "unit": unit,
        "title": title,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "top": CHART_TOP,
        "first": buckets[0].start if buckets else None,
        "last": buckets[-1].start if buckets else None,
    }


SPARK_WIDTH, SPARK_HEIGHT = 160, 36


@register.inclusion_tag("crm/_load_line.svg")
def load_line(line, limit: int) -> dict:
    """An operator's load over the last day (selectors.LoadLine) against its limit (dashed)."""
    values = [load for _, load in line.points] if line else []
    peak = max([limit, *values, 1])
    step = SPARK_WIDTH / max(len(values) - 1, 1)

    def y(value: int) -> float:
        return round(SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * value / peak, 2)

    points = " ".join(f"{round(i * step, 2)},{y(v)}" for i, v in enumerate(values))
    return {
        "points": points,
        "limit_y": y(limit),
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
        "low": min(values, default=0),
        "high": max(values, default=0),
        "now": values[-1] if values else 0,
        "limit": limit,
        "start": line.points[0][0] if line and line.points else None,
    }


@register.filter
def duration(value: timedelta | None) -> str:
    """A time to answer or to close, short: "42 s", "3 min 5 s", "2 h 5 min"; "—" for none (a template's
    missing value included)."""
    if not isinstance(value, timedelta):
        return "—"
    seconds = round(value.total_seconds())
    if seconds < 60:
        return _("%(seconds)d s") % {"seconds": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": seconds}
    return waited(datetime.min, datetime.min + value)


@register.filter
def get_item(mapping: dict, key):
    """mapping[key] in a template (None when missing)."""
    return mapping.get(key) if mapping else None


@register.filter
def names(rows: list) -> str:
    """Operators (or rows with an .operator) as "Boris, Vera and Gleb"."""
    return _join([getattr(row, "operator", row).name for row in rows]) if rows else ""


@register.filter
def line_of(lines: list, operator) -> object:
    """The LoadLine of this operator among the dashboard's lines (None when it has none)."""
    return next((line for line in lines or [] if line.operator.pk == operator.pk), None)


def outside_source_warning(operator: str, *, source: str = "", count: int = 1) -> str:
    """The warning after a supervisor gave contacts to an operator who does not work their source (with
    `source`: one contact of it; otherwise `count` contacts, of one source or several)."""
    if source:
        return _(
            "%(operator)s is not one of the operators of %(source)s: the contact is recorded as assigned "
            "outside its source."
        ) % {"operator": operator, "source": source}
    return ngettext(
        "%(count)d contact went to %(operator)s outside its source: %(operator)s is not one of its operators.",
        "%(count)d contacts went to %(operator)s outside their sources: %(operator)s is not one of their "
        "operators.",
        count,
    ) % {"operator": operator, "count": count}


def operator_choice_label(row) -> str:
    """An operator in an assign menu (row: selectors.OperatorLoad): "Anna — 3 / 20", with "switched off",
    "full" or "over the limit" after it when so."""
    words = [f"{row.operator.name} — {row.load} / {row.operator.load_limit}"]
    if not row.operator.is_active:
        words.append(exclusion_label(Exclusion.INACTIVE))
    if row.state:
        words.append(load_state_label(row.state))
    return " · ".join(words)


def assign_menu(choices, sources) -> list[tuple[str, list[tuple[int, str]]]]:
    """The choices of an assign menu (choices: selectors.AssignChoices), grouped: "Operators of <source>"
    for each source, then "Other operators"; as a Django ChoiceField takes them."""
    menu = []
    for group in choices.groups(sources):
        if not group.rows:  # a source without operators, or nobody else
            continue
        if group.source is None:
            label = _("Other operators")
        else:
            label = _("Operators of %(source)s") % {"source": group.source.name}
        menu.append((label, [(row.operator.pk, operator_choice_label(row)) for row in group.rows]))
    return menu


@register.simple_tag
def assign_options(choices, sources) -> SafeString:
    """The <optgroup>s of an assign menu for contacts of these sources (one Source, or a list) (see
    assign_menu); rendered once per language and sources, as a list page has a menu per row and most rows
    share a source."""
    sources = [sources] if isinstance(sources, Source) else list(sources)
    key = (get_language(), tuple(source.pk for source in sources))
    if key not in choices.cache:
        choices.cache[key] = format_html_join(
            "",
            '<optgroup label="{}">{}</optgroup>',
            (
                (label, format_html_join("", '<option value="{}">{}</option>', options))
                for label, options in assign_menu(choices, sources)
            ),
        )
    return choices.cache[key]


@register.filter
def change_value(value: object, labels: dict | None = None) -> str:
    """A recorded field value in words: yes/no, the one date format, a choice's label (never its stored code),
    "—" for none."""
    if value is None or value == "":
        return "—"
    if labels and value in labels:
        return str(labels[value])
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        return when(value)
    return str(value)


@register.filter
def inline_formset_data(inline_admin_formset) -> str:
    """Django's data of an admin inline for its script, with the "Add another …" link in the inline's own
    words (its `add_another`) when it has them: Django writes "Add another %(verbose_name)s" with the name
    capitalised, which Russian reads as "Добавить еще один Вес оператора"."""
    data = json.loads(inline_admin_formset.inline_formset_data())
    add_another = getattr(inline_admin_formset.opts, "add_another", None)
    if add_another:
        data["options"]["addText"] = str(add_another)
    return json.dumps(data)


register.filter("author_label", author_label)


@register.simple_tag(takes_context=True)
def page_query(context: template.Context, param: str, number: int) -> str:
    """The current query string with `param` set to `number`: `{% querystring %}` with a key that is not
    written out, so that one set of page links (crm/_page_links.html) serves every paged list, and a page
    with two of them (the dashboard's ?src_page= and ?op_page=)."""
    params = context.request.GET.copy()
    params[param] = number
    return f"?{params.urlencode()}"
