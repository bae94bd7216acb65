"""Griffe extension: render the Sphinx roles of numpydoc docstrings for MkDocs.

The docstrings follow scikit-learn's numpydoc conventions, including Sphinx roles such
as :func:`save` or :class:`~sklearn.pipeline.Pipeline`. Markdown has no roles, so
mkdocstrings would print them literally. This extension rewrites each role before
rendering: a public skdistill name becomes a cross-reference to its API entry, and any
other target becomes inline code (``~`` keeps the last dotted component, as in Sphinx).
Only names that certainly have an API entry are linked, so the strict build never
fails on a link this extension made up.
"""

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|meth|attr|data|mod|obj|exc|ref|term):`(~?)([^`]+)`")


def _public_targets():
    import skdistill
    import skdistill.plotting

    names = {name: f"skdistill.{name}" for name in skdistill.__all__ if name != "__version__"}
    for name in dir(skdistill.plotting):
        if name.startswith("plot_"):
            names[f"plotting.{name}"] = f"skdistill.plotting.{name}"
    return names


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring."""

    def __init__(self):
        super().__init__()
        self._targets = _public_targets()

    def _replace(self, match):
        tilde, target = match.group(2), match.group(3).strip()
        shown = target.rsplit(".", 1)[-1] if tilde else target
        short = target[len("skdistill."):] if target.startswith("skdistill.") else target
        identifier = self._targets.get(short)
        if identifier is not None:
            return f"[`{shown}`][{identifier}]"
        return f"`{shown}`"

    def on_instance(self, *, obj, **kwargs):
        docstring = obj.docstring
        if docstring is not None and ":" in docstring.value:
            docstring.value = _ROLE.sub(self._replace, docstring.value)
