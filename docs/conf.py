"""Sphinx configuration of npuhub's documentation: MyST Markdown, built fully offline."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The checkout's npuhub (not whichever one is installed), and the docs' own extensions.
sys.path.insert(0, str(DOCS.parent))
# The lab extension's server part (its settings are in the configuration reference).
sys.path.insert(0, str(DOCS.parent / "extensions" / "npuhub-lab"))
sys.path.insert(0, str(DOCS / "_ext"))

import npuhub  # noqa: E402

project = "npuhub"
author = "the npuhub contributors"
copyright = "the npuhub contributors"
version = release = npuhub.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "autodoc_traits",
    "npuhub_cli",  # docs/_ext/npuhub_cli.py: the `npuhub` command's help, generated at build time
    "npuhub_openapi",  # docs/_ext/npuhub_openapi.py: the service API reference, from its OpenAPI document
]

root_doc = "index"
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
language = "en"

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

# -- autodoc / autodoc_traits ----------------------------------------------------
autodoc_member_order = "bysource"
# The reference shows configuration, not the code's type hints.
autodoc_typehints = "none"


def _skip_inherited_traits(app, what, name, obj, skip, options):
    """List only the traits npuhub defines; JupyterHub documents the ones it inherits from there."""
    owner = getattr(obj, "this_class", None)  # set on every trait, to the class that declares it
    if owner is not None and not owner.__module__.startswith("npuhub."):
        return True
    return None


def _no_class_signature(app, what, name, obj, options, signature, return_annotation):
    """Configurables are set up through traits, never constructed by hand: show no ``(**kwargs)``."""
    if what in ("class", "configurable"):
        return "", None
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_inherited_traits)
    app.connect("autodoc-process-signature", _no_class_signature)

# -- HTML -------------------------------------------------------------------------
# No intersphinx, no remote fonts, images or scripts: the docs build and read offline.
html_theme = "pydata_sphinx_theme"
html_title = f"npuhub {release}"
html_static_path = ["_static"]
html_last_updated_fmt = None
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": [],
    "secondary_sidebar_items": ["page-toc"],
}
# Only the guides and the reference have sections to navigate.
html_sidebars = {"index": [], "quickstart": [], "concepts": []}
html_show_sourcelink = False
