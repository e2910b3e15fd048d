"""/api/v1/skills and /api/v1/operators/{id}/skills: the skills supervisors name, and which an operator
holds (replaced as a whole through distribution.capacity, which routes waiting contacts the new skills
let through)."""

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_noop
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from crm import services as crm_services
from crm.models import Operator, Skill
from distribution import capacity
from integrations.api.common import (
    NOT_FOUND,
    SKILL_NAME_MAX,
    WAITING_ASSIGNED,
    Body,
    LimitOffset,
    errors,
    get_or_404,
)
from integrations.auth import write_key

router = Router(tags=["skills"])
operator_skills = Router(tags=["skills"])

# More than any contact centre names; bounded because every name is looked up on each change.
MAX_SKILLS = 50


class SkillIn(Body):
    name: str = Field(
        min_length=1,
        max_length=SKILL_NAME_MAX,
        description=gettext_noop("A short code: lower-case letters, digits, - and _ (ru, en, b2b, vip)."),
    )


class SkillOut(Schema):
    id: int
    name: str


class SkillsIn(Body):
    skills: list[str] = Field(
        max_length=MAX_SKILLS,
        description=gettext_noop("The whole new set of skill names; [] removes them all."),
    )


class SkillsOut(Schema):
    operator_id: int
    skills: list[str]


class SkillsChanged(SkillsOut):
    waiting_assigned: int = WAITING_ASSIGNED


@router.get("", response={200: list[SkillOut], **errors(400)}, summary=gettext_noop("List skills"))
@paginate(LimitOffset)
def list_skills(request: HttpRequest) -> QuerySet[Skill]:
    return Skill.objects.all()


@router.post(
    "",
    auth=write_key,
    response={201: SkillOut, **errors(400, 403)},
    summary=gettext_noop("Create a skill"),
)
def create_skill(request: HttpRequest, payload: SkillIn) -> Status[Skill]:
    return Status(201, crm_services.create_skill(name=payload.name))


def held(operator: Operator) -> dict:
    return {"operator_id": operator.pk, "skills": sorted(operator.skills.values_list("name", flat=True))}


@operator_skills.get(
    "/{int:operator_id}/skills",
    response={200: SkillsOut, **errors(404)},
    summary=gettext_noop("Get an operator's skills"),
)
def get_operator_skills(request: HttpRequest, operator_id: int) -> dict:
    return held(get_or_404(Operator.objects.all(), operator_id, "operator"))


@operator_skills.put(
    "/{int:operator_id}/skills",
    auth=write_key,
    response={200: SkillsChanged, **errors(400, 403, 404)},
    summary=gettext_noop("Replace an operator's skills"),
    description=gettext_noop(
        "Every name must be an existing skill (400 naming the unknown ones). Skills added route the waiting "
        "contacts of the operator's sources at once."
    ),
)
def set_operator_skills(request: HttpRequest, operator_id: int, payload: SkillsIn) -> dict:
    operator = get_or_404(Operator.objects.all(), operator_id, "operator")
    try:
        routed = capacity.set_operator_skills(operator=operator, names=payload.skills)
    except Operator.DoesNotExist:  # deleted since it was found
        raise Http404(NOT_FOUND["operator"] % {"id": operator_id}) from None
    return {**held(operator), "waiting_assigned": routed.assigned}
