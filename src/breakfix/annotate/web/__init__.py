"""Blind annotation web app: owners create projects with a rubric and assign items to two or more
annotators; each annotator labels their own queue without ever seeing another's labels; owners
see progress, live agreement, adjudicate disagreements and export per-rater labels.

Public names: :func:`create_app`, :func:`load_rubric`.
"""

from .rubric import Rubric, load_rubric


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - thin lazy wrapper
    """Build the FastAPI app (see :func:`breakfix.annotate.web.app.create_app`)."""
    from .app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["Rubric", "create_app", "load_rubric"]
