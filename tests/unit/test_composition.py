"""An app's catalog: composed from packs, each mistake refused with one line that names it and the fix."""

from __future__ import annotations

import pytest

from offload.catalog import Catalog, CatalogError, JobType, Pack, QueueSpec, load_catalog
from offload.jobs.registry import verify_catalog
from offload.packs import core, images, maintenance
from tests.support import catalogs


def _one_line(exc: pytest.ExceptionInfo[CatalogError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_compose_keeps_each_packs_parts_and_their_hooks_in_pack_order():
    mine = Pack("mine", job_types=(JobType("mine.job", queue="default", processor="tests.support.processors:count"),))
    catalog = Catalog.compose(core, images, mine)
    assert [p.name for p in catalog.packs] == ["core", "images", "mine"]
    assert catalog.pack_of("mine.job") is mine and catalog.pack_of("image.process") is images
    assert catalog.job_type("mine.job").queue == "default"
    assert catalog.on_finish == core.on_finish
    assert catalog.message_kinds == images.message_kinds
    assert catalog.trigger_for("uploads/images/a.png").job_type == "image.process"


def test_a_queue_declared_by_two_packs_is_refused_naming_both():
    with pytest.raises(CatalogError) as exc:
        catalogs.compose_clash()
    message = _one_line(exc)
    assert "queue 'default'" in message and "'core'" in message and "'mine'" in message
    assert "rename one" in message


def test_a_pack_composed_twice_is_refused():
    with pytest.raises(CatalogError, match="pack 'core' is declared by both"):
        Catalog.compose(core, core)


def test_a_trigger_on_a_missing_type_is_refused_with_the_fix():
    with pytest.raises(CatalogError) as exc:
        catalogs.compose_trigger_on_missing_type()
    assert "'docs.index'" in _one_line(exc) and "compose the pack" in str(exc.value)


def test_a_type_on_a_missing_queue_is_refused_with_the_fix():
    with pytest.raises(CatalogError) as exc:
        catalogs.compose_type_on_missing_queue()
    message = _one_line(exc)
    assert "unknown queue 'docs'" in message and "declare the queue" in message


def test_a_catalog_path_whose_module_does_not_import_names_the_path_and_the_setting():
    with pytest.raises(CatalogError) as exc:
        load_catalog("no_such_app.jobs:catalog")
    message = _one_line(exc)
    assert "'no_such_app.jobs:catalog'" in message and "offload:catalog" in message


def test_a_catalog_path_that_names_something_else_says_what_it_found():
    with pytest.raises(CatalogError) as exc:
        load_catalog("tests.support.catalogs:not_a_catalog")
    assert "is a dict, not a Catalog" in _one_line(exc)


def test_a_processor_that_does_not_import_is_named_with_its_job_type():
    with pytest.raises(CatalogError) as exc:
        verify_catalog(catalogs.missing_module, "tests.support.catalogs:missing_module")
    message = _one_line(exc)
    assert "job type 'broken.job'" in message and "'no_such_app.jobs:run'" in message
    assert "tests.support.catalogs:missing_module" in message


def test_a_processor_without_a_pydantic_model_parameter_is_refused():
    with pytest.raises(CatalogError) as exc:
        verify_catalog(catalogs.untyped_processor, "tests.support.catalogs:untyped_processor")
    assert "pydantic model" in _one_line(exc) and "loose.job" in str(exc.value)


def test_every_builtin_pack_verifies():
    from offload.packs import everything

    verify_catalog(everything, "offload.packs:everything")


def test_pack_names_and_paths_are_checked_when_declared():
    with pytest.raises(CatalogError, match="lower-case"):
        Pack("My Pack")
    with pytest.raises(CatalogError, match="module:attribute"):
        Pack("ok", on_finish=("no_colon",))
    with pytest.raises(CatalogError, match="schedule names repeat"):
        Catalog(queues=(QueueSpec("q", concurrency=2),), job_types=(), schedules=maintenance.schedules * 2)


def test_a_processor_whose_annotations_cannot_be_resolved_is_one_line_not_a_name_error():
    with pytest.raises(CatalogError) as exc:
        verify_catalog(catalogs.hidden_model, "tests.support.catalogs:hidden_model")
    assert "TYPE_CHECKING" in _one_line(exc) and "hidden.job" in str(exc.value)


def test_overlapping_trigger_prefixes_are_refused_as_s3_would():
    from offload.catalog import S3Trigger

    mine = Pack("mine", s3_triggers=(S3Trigger("uploads/", "image.process"),))
    with pytest.raises(CatalogError) as exc:
        Catalog.compose(core, images, mine)
    assert "'uploads/'" in _one_line(exc) and "'uploads/images/'" in str(exc.value) and "overlap" in str(exc.value)


def test_queue_names_that_would_share_a_resource_id_are_refused():
    with pytest.raises(CatalogError) as exc:
        Catalog.compose(core, Pack("mine", queues=(QueueSpec("my-jobs", 2), QueueSpec("my_jobs", 2))))
    assert "'my-jobs' and 'my_jobs'" in _one_line(exc)
