"""Every public name has a numpydoc docstring with a runnable Examples section.

The examples themselves run as doctests (``--doctest-modules`` in pyproject.toml); this
test checks that each public name has one to run.
"""

import inspect
import re

import pytest

import skdistill

PUBLIC = [name for name in skdistill.__all__ if name != "__version__"]

# A numpydoc section heading: the title, then a line of dashes as long as the title.
_SECTION = re.compile(r"^(\w[\w ]*)\n-+\s*$", re.MULTILINE)


def _sections(doc):
    """Map each numpydoc section title to its text."""
    matches = list(_SECTION.finditer(doc))
    return {m.group(1).strip(): doc[m.end():matches[i + 1].start() if i + 1 < len(matches)
                                     else len(doc)]
            for i, m in enumerate(matches)}


def test_all_is_complete():
    assert "__version__" in skdistill.__all__
    for name in PUBLIC:
        assert hasattr(skdistill, name), f"skdistill.__all__ lists {name!r}, which is missing"


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_runnable_examples(name):
    # A scorer instance documents itself through its class's docstring.
    doc = inspect.getdoc(getattr(skdistill, name))
    assert doc, f"skdistill.{name} has no docstring"
    sections = _sections(doc)
    assert "Examples" in sections, (
        f"skdistill.{name}'s docstring has no numpydoc 'Examples' section "
        f"(sections: {sorted(sections)})"
    )
    assert ">>>" in sections["Examples"], (
        f"skdistill.{name}'s Examples section has no doctest ('>>>') to run"
    )
