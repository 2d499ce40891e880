"""Objects embedded in documents and executables become children, examined like any file (issue 19 item 4):
packages dropped into legacy Office documents and the OLE parts of OOXML ones (word/embeddings/oleObject1.bin,
itself a member of the docx), VBA macros' source (vbaProject.bin, or the macro storage of a .doc/.xls) as text,
and executables hidden in a PE file's resources (those the PE analyzer found). Reading them is the evidence
layer's (evidence/containers/ole.py, pe_resources.py); what cannot be read is said in the ledger."""

from __future__ import annotations

from collections.abc import Iterable

from ..evidence.base import EvidenceObject
from ..evidence.containers import Container, ContainerError, ZipContainer
from ..evidence.containers.ole import OleContainer
from ..evidence.containers.pe_resources import PeResources
from .archive import ZIP_MIMES, container_limits
from .base import Analyzer, Finding, Item, Settings
from .results import ContentType, PeSummary

STAGE = "embedded"
# OOXML documents (docx, docm, xlsx, xlsm, pptx, pptm…) are zips the archive analyzer leaves closed: the parts
# that hold other objects are opened here, the rest of the document is its own text and layout.
OOXML_MIMES = ("application/vnd.openxmlformats-officedocument.", "application/vnd.ms-word.", "application/vnd.ms-excel.",
               "application/vnd.ms-powerpoint.")
OOXML_PARTS = ("/embeddings/", "vbaProject.bin", "/activeX/")
OUTLOOK_MIME = "application/vnd.ms-outlook"  # an MSG is an OLE file too: the mail analyzer reads it


class EmbeddedObjects(Analyzer):
    NAME = "embedded"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.limits = container_limits(settings)

    def analyze(self, item: Item) -> Iterable[Finding | EvidenceObject]:
        obj = item.obj
        if not item.content_read or obj.content is None or obj.kind not in ("file", "virtual"):
            return
        container = self._container(item)
        if container is None:
            return
        with container:
            for problem in getattr(container, "problems", ()):
                item.skipped.append((STAGE, problem))
            if container.listed > len(container.members):
                item.skipped.append((STAGE, f"{container.listed - len(container.members)} embedded objects past "
                                            "the member limit not examined"))
            ooxml = isinstance(container, ZipContainer)
            for member in container.members:
                if not ooxml or (not member.directory and any(part in f"/{member.name}" for part in OOXML_PARTS)):
                    yield container.object(member, obj)

    def _container(self, item: Item) -> Container | None:
        """The embedded objects' container of this object, if it can hold any; a ledger line when it cannot be
        opened or lies too deep."""
        obj = item.obj
        assert obj.content is not None
        content_type = item.result(ContentType)
        pe = item.result(PeSummary)
        embedded_executables = ((pe.summary or {}).get("resources") or {}).get("embedded_executables") \
            if pe is not None else None
        mime = (content_type.mime if content_type is not None else None) or ""
        ooxml = mime.startswith(OOXML_MIMES) and mime not in ZIP_MIMES
        is_ole = not ooxml and mime != OUTLOOK_MIME and OleContainer.probe(obj.content)
        if not embedded_executables and not is_ole and not ooxml:
            return None
        if obj.depth >= self.settings.archive_depth:
            item.skipped.append((STAGE, "embedded objects nested too deep: not examined"))
            return None
        try:
            if embedded_executables:
                return PeResources(obj.content, obj.ref, self.limits, data=item.data)
            if ooxml:
                return ZipContainer(obj.content, obj.ref, self.limits, data=item.data)
            container = OleContainer(obj.content, obj.ref, self.limits)
        except ContainerError as error:
            item.skipped.append((STAGE, str(error)))
            return None
        if container.encrypted:  # an encrypted OOXML document is an OLE file holding it
            item.skipped.append((STAGE, "encrypted document: not examined"))
        return container
