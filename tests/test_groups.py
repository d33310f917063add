"""Channel-layer group names (realtime/groups.py): valid for every layer, and built nowhere else."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from channels.layers import BaseChannelLayer

from charity.roles import Role
from realtime import fanout, groups
from realtime.topics import topic_names

ROOT = Path(__file__).resolve().parent.parent
REQUEST_ID = UUID("6f1c2b9e-8d4a-4f5e-9a3b-2c1d0e9f8a7b")

# Sample arguments for every group builder that takes any; zero-argument builders are called as they are.
SAMPLES: dict[str, list[tuple[Any, ...]]] = {
    "user_group": [(1,), (2**63 - 1,), ("42",)],
    "control_group": [(1,), (2**63 - 1,)],
    "role_group": [(role,) for role in Role] + [(role.value,) for role in Role],
    "help_request_group": [(uuid4(),), (REQUEST_ID,), (str(REQUEST_ID),), (str(REQUEST_ID).upper(),)],
    "help_request_helpers_group": [(uuid4(),), (REQUEST_ID,), (str(REQUEST_ID),)],
    "topic_group": [(topic,) for topic in topic_names()],
    "help_desk_group": [(1,), (2**63 - 1,)],
}


def builders() -> dict[str, Callable[..., str]]:
    return {
        name: function
        for name, function in inspect.getmembers(groups, inspect.isfunction)
        if function.__module__ == groups.__name__ and not name.startswith("_")
    }


def built_names() -> Iterator[tuple[str, tuple[Any, ...], str]]:
    for name, function in sorted(builders().items()):
        takes_arguments = bool(inspect.signature(function).parameters)
        for args in SAMPLES.get(name, []) if takes_arguments else [()]:
            yield name, args, function(*args)


def test_every_builder_with_parameters_has_samples() -> None:
    missing = [
        name
        for name, function in builders().items()
        if inspect.signature(function).parameters and not SAMPLES.get(name)
    ]
    assert missing == [], f"Add sample arguments to SAMPLES for {missing} so their names are checked."


@pytest.mark.parametrize(("builder", "args", "group"), list(built_names()))
def test_group_name_is_valid(builder: str, args: tuple[Any, ...], group: str) -> None:
    assert fanout.require_valid_group(group) == group
    # Still valid for channels' layers, should a group ever be used with one again.
    assert BaseChannelLayer().require_valid_group_name(group)


def test_different_things_get_different_groups() -> None:
    names = [
        groups.user_group(1),
        groups.user_group(11),
        groups.control_group(1),
        groups.everyone_group(),
        groups.help_request_group(REQUEST_ID),
        groups.help_request_group(uuid4()),
        groups.help_request_helpers_group(REQUEST_ID),
        *(groups.role_group(role) for role in Role),
        *(groups.topic_group(topic) for topic in topic_names()),
    ]
    assert len(set(names)) == len(names)


def test_one_thing_has_one_group_whatever_form_its_id_takes() -> None:
    assert groups.user_group(7) == groups.user_group("7")  # type: ignore[arg-type]
    assert groups.role_group(Role.DONOR) == groups.role_group("donor")
    assert (
        groups.help_request_group(REQUEST_ID)
        == groups.help_request_group(str(REQUEST_ID))
        == groups.help_request_group(str(REQUEST_ID).upper())
    )


@pytest.mark.parametrize(
    ("builder", "argument"),
    [
        (groups.user_group, "7 OR 1=1"),
        (groups.control_group, "7 OR 1=1"),
        (groups.role_group, "vol unteer"),
        (groups.role_group, "a.b"),
        (groups.role_group, ""),
        (groups.help_request_group, "not-a-uuid"),
        (groups.help_request_group, "../6f1c2b9e"),
    ],
)
def test_builders_refuse_what_is_not_an_id(builder: Callable[[Any], str], argument: str) -> None:
    with pytest.raises(ValueError):
        builder(argument)


# Calls whose first argument is a group name or a list of them.
_GROUP_CALLS = {
    "group_add",
    "group_discard",
    "group_send",
    "join_groups",
    "leave_groups",
    "group_send_on_commit",
    "group_send_now_unsafe",
    "agroup_send_now_unsafe",
    "publish",
    "apublish",
}


def _project_modules() -> Iterator[Path]:
    for package in sorted(ROOT.iterdir()):
        if package.name in {"tests", "bench"} or not (package / "__init__.py").exists():
            continue
        for path in sorted(package.rglob("*.py")):
            if "migrations" not in path.parts and path != ROOT / "charity" / "groups.py":
                yield path


def _built_from_literals(node: ast.expr) -> bool:
    """Whether a group-name expression spells a name itself (a literal, f-string, + or .format)."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp):
        return _built_from_literals(node.left) or _built_from_literals(node.right)
    if isinstance(node, ast.Call):  # a builder's arguments are the builder's business; .format is not a builder
        return isinstance(node.func, ast.Attribute) and node.func.attr == "format"
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return any(_built_from_literals(element) for element in node.elts)
    if isinstance(node, ast.Starred):
        return _built_from_literals(node.value)
    if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        return _built_from_literals(node.elt)
    if isinstance(node, ast.IfExp):
        return _built_from_literals(node.body) or _built_from_literals(node.orelse)
    return False


def _literal_group_names(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name not in _GROUP_CALLS:
            continue
        targets = node.args[:1] + [keyword.value for keyword in node.keywords if keyword.arg in {"group", "groups"}]
        for target in targets:
            if _built_from_literals(target):
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(target)}"


def test_the_scan_catches_a_group_name_spelt_out() -> None:
    spelt_out = [
        'layer.group_send(f"user.{user_id}", event)',
        'layer.group_add("role." + role, channel)',
        'group_send_on_commit(["everyone"], event)',
        'self.join_groups(["topic.{}".format(topic)])',
        'self.join_groups([f"user.{i}" for i in ids])',
    ]
    built = [
        "layer.group_send(groups.user_group(user_id), event)",
        'self.join_groups([groups.topic_group("dashboard")])',
        'self.join_groups([groups.topic_group(t) for t in frame["topics"] if t in SPECIAL])',
        "group_send_on_commit(audience.groups(), event)",
    ]
    for source, expected in [(line, True) for line in spelt_out] + [(line, False) for line in built]:
        call = ast.parse(source).body[0]
        assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
        assert _built_from_literals(call.value.args[0]) is expected, source


def test_group_names_are_built_only_in_charity_groups() -> None:
    modules = list(_project_modules())
    assert ROOT / "notifications" / "services.py" in modules  # the scan does look at the project
    offenders = [found for path in modules for found in _literal_group_names(path)]
    assert offenders == [], "Build group names with realtime.groups, not string literals:\n" + "\n".join(offenders)
