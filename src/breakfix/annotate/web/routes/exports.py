"""The owner's downloads: per-rater labels (JSONL, CSV), soft labels and adjudications."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from .. import export as exp
from ..db import WebSession
from ..deps import get_db, owner_only, project_or_404

router = APIRouter()


def _download(body: str, filename: str, media: str) -> Response:
    return PlainTextResponse(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "project"


@router.get("/owner/projects/{pid}/export/labels.jsonl")
def export_jsonl(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
    project = project_or_404(db, pid)
    return _download(exp.to_jsonl(exp.label_records(db, project)), f"{_slug(project.name)}-labels.jsonl",
                     "application/x-ndjson")


@router.get("/owner/projects/{pid}/export/labels.csv")
def export_csv(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
    project = project_or_404(db, pid)
    return _download(exp.to_csv(project, exp.label_records(db, project)), f"{_slug(project.name)}-labels.csv", "text/csv")


@router.get("/owner/projects/{pid}/export/adjudications.jsonl")
def export_adj(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
    project = project_or_404(db, pid)
    return _download(exp.to_jsonl(exp.adjudication_records(db, project)), f"{_slug(project.name)}-adjudications.jsonl",
                     "application/x-ndjson")


@router.get("/owner/projects/{pid}/export/soft-labels.jsonl")
def export_soft(pid: int, sess: WebSession = Depends(owner_only), db: Session = Depends(get_db)) -> Response:
    project = project_or_404(db, pid)
    try:
        body = exp.soft_labels_jsonl(project, exp.label_records(db, project))
    except exp.ExportUnavailable as exc:
        raise HTTPException(501, str(exc)) from None
    return _download(body, f"{_slug(project.name)}-soft-labels.jsonl", "application/x-ndjson")
