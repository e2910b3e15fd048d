"""The webhook's `skills`: names checked against the skills (422 naming unknown ones), and a worker's memory
of names it found, which saves the check for a while and never lets an unknown name through."""

import pytest

from crm.models import Contact, Skill
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity
from distribution.routes import memory
from distribution.tests.test_webhook import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    source = SourceFactory()
    anna = OperatorFactory(name="Anna", load_limit=100)
    WeightFactory(source=source, operator=anna)
    Skill.objects.create(name="ru")
    capacity.set_operator_skills(operator=anna, names=["ru"])
    return source


def test_known_names_are_remembered_for_a_while_and_unknown_ones_always_refused(client, source):
    assert post(client, source, {"external_id": "a", "skills": ["ru"]}).json()["assigned_operator"]
    assert "ru" in memory.skills
    unknown = post(client, source, {"external_id": "b", "skills": ["ru", "vip"]})
    assert unknown.status_code == 422 and "vip" in unknown.json()["errors"]["skills"][0]
    assert "vip" not in memory.skills and not Contact.objects.filter(lead__external_id="b").exists()
    # Deleted after a worker found it: taken while remembered, and the contact waits, the skill named.
    Skill.objects.filter(name="ru").delete()
    late = post(client, source, {"external_id": "c", "skills": ["ru"]}).json()
    assert late["unassigned_reason"] == "nobody_with_skills"
    assert Contact.objects.get(pk=late["contact_id"]).explanation["skills"]["missing"] == ["ru"]
    # Once the memory is stale, the name is read again, and refused.
    memory.skills["ru"] -= memory.SKILLS_FRESH_FOR
    assert post(client, source, {"external_id": "d", "skills": ["ru"]}).status_code == 422
