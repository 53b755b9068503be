import pytest

from postroom.core.errors import ValidationError
from postroom.core.jobs import JobRegistry, PeriodicJob, Task


def _noop(postroom):
    return None


def test_a_job_name_can_be_registered_once():
    registry = JobRegistry()
    registry.add_periodic(PeriodicJob("tracking.refresh", "refresh", {"minute": "*/15"}, _noop))
    with pytest.raises(ValidationError) as caught:
        registry.add_task(Task("tracking.refresh", "again", _noop))
    assert caught.value.code == "duplicate_job"


def test_a_malformed_schedule_is_refused_at_registration():
    with pytest.raises(ValidationError) as caught:
        JobRegistry().add_periodic(PeriodicJob("bad", "bad", {"minute": "61"}, _noop))
    assert caught.value.code == "invalid_schedule"
