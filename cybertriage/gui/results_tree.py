"""The results tree beside the tabs, as investigators know it from Autopsy: the evidence (volumes, folders), views of
the files (by MIME group, by extension, deleted, by size, modified around a date), the results (findings by
analyzer and rule, hash-set hits, keyword hits, correlations) and the tags, each node with its count.

Clicking a node fills a tab: a folder or a view of the files the Files tab (through its filter bar, or for a MIME
group a query of its own), a rule its findings, a keyword term the Keyword Hits tab, a tag the tagged objects.
The counts are read on the thread pool (case/results_tree.py) when a case opens, when a scan ends and on F5;
a folder's subfolders when it is first opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import QDate, QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QDateEdit,
    QDockWidget,
    QHeaderView,
    QLabel,
    QMenu,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from ..case import results_tree as counts
from ..case.files_query import FileQuery
from ..case.results_tree import MimeFilter, Place, RuleFilter, TagFilter
from ..text_safety import visible
from .case_window import CaseWindow, named
from .files_filter import WHOLE_CASE
from .files_view import FilesView
from .findings_view import FindingsView
from .forms import icon
from .keywords_view import ROLE as KEYWORD_ROLE
from .keywords_view import KeywordsView
from .tags import Tagging
from .workers import FunctionWorker

TARGET = Qt.ItemDataRole.UserRole + 1  # what a click on the node shows
KEY = Qt.ItemDataRole.UserRole + 2  # a name that stays the same across readings: the node's expansion is kept
PLACEHOLDER = "…"
MINIMUM_WIDTH = 120
WIDTH = 280  # its first width in a wide window (a fifth of a narrow one)
KNOWN_GOOD_TIP = ("Counts include files of known-good hash sets (NSRL), which the Files tab hides unless "
                  "“Show known-good” is ticked.")


class TreeWindow(CaseWindow, Protocol):
    """The main window as the tree sees it: the tabs it fills and the moments it counts again."""

    files: FilesView
    findings: FindingsView
    keywords: KeywordsView
    tagging: Tagging
    case_opened: Any  # Signal(case folder)
    scan_done: Any  # Signal(outcomes)


@dataclass(frozen=True)
class Target:
    """What a node shows when clicked: `kind` names the handler, the rest is its argument."""

    kind: str  # place | bar | mime | findings | keywords | tagged
    place: Place | None = None
    fields: tuple[tuple[str, str], ...] = ()  # the filter bar's fields to fill (name, text); "deleted" ticks the box
    mime: MimeFilter | None = None
    analyzer: str | None = None
    rule: str | None = None
    keyword_list: str | None = None
    term: str | None = None
    tag: str | None = None
    object_kind: str | None = None  # file | finding


def install(main: TreeWindow) -> ResultsTree:
    """Put the results tree at the left of the main window's tabs, with its toggle in the View menu."""
    return ResultsTree(main, parent=main.window)


class ResultsTree(QObject):
    """The dock holding the tree and the date the "modified" views end on; it counts on the pool."""

    def __init__(self, main: TreeWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.loaded_case: Any = None  # the case folder the tree shows
        self._worker: FunctionWorker | None = None
        self._folder_workers: set[FunctionWorker] = set()
        self._part_workers: dict[str, FunctionWorker] = {}  # one part of the tree read again, by its name
        self.model = QStandardItemModel(self)
        self.view = named(QTreeView(), "resultsTree")
        self.view.setModel(self.model)
        self.view.setHeaderHidden(True)
        self.view.setUniformRowHeights(True)
        self.view.setEditTriggers(QTreeView.EditTrigger.NoEditTriggers)
        # long names scroll sideways instead of being cut short
        self.view.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.header().setStretchLastSection(False)
        self.view.clicked.connect(self.open_node)
        self.view.activated.connect(self.open_node)
        self.view.expanded.connect(self._expanded)
        self.around = named(QDateEdit(), "resultsTreeAround")
        self.around.setCalendarPopup(True)
        self.around.setDisplayFormat("yyyy-MM-dd")
        self.around.setToolTip("The last day of the “Modified” views (UTC); at first the case's latest modification")
        self.around.dateChanged.connect(lambda _: self._recount_modified())
        self.status = named(QLabel(), "resultsTreeStatus")
        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(QLabel("“Modified” views up to:"))
        layout.addWidget(self.around)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self.dock = named(QDockWidget("Results tree", main.window), "resultsTreeDock")
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                              | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.dock.setWidget(pane)
        pane.setMinimumWidth(MINIMUM_WIDTH)  # not its widest line: the window must stay narrow enough for 800 px
        main.window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.dock.show()  # added to a window already shown, it would stay hidden
        self._sized = False  # given its first width once the window has room for it
        main.window.installEventFilter(self)
        self.toggle = self.dock.toggleViewAction()
        self.toggle.setText("Results &tree")
        self.toggle.setObjectName("actionResultsTree")
        menu = main.window.findChild(QMenu, "menuView")
        if menu is not None:
            menu.addAction(self.toggle)
        main.case_opened.connect(lambda _: self.reload())
        main.scan_done.connect(lambda _: self.reload())
        main.actions["CloseCase"].triggered.connect(self._maybe_closed)
        main.tagging.tagged.connect(lambda kind, object_id: self._recount_tags())
        refresh = main.actions.get("Refresh")
        if refresh is not None:
            refresh.triggered.connect(lambda: self.reload(keep_date=True))
        self.reload()

    # reading the counts ----------------------------------------------------------------------------

    def reload(self, keep_date: bool = False) -> None:
        """Count the case again on the pool (the chosen date kept with `keep_date`); no case: an empty tree."""
        if self._worker is not None:
            self._worker.quit()
            self._worker = None
        case_dir = self.main.case_dir
        if case_dir is None:
            self._clear()
            return
        around = self.around.date().toString("yyyy-MM-dd") if keep_date and case_dir == self.loaded_case else None
        worker = FunctionWorker(counts.tree_counts, case_dir, around)
        worker.signals.finished.connect(lambda result: self._counted(worker, case_dir, result))
        worker.signals.errored.connect(lambda error: self._failed(worker, error))
        self._worker = worker
        self.status.setText("Counting…")
        worker.start()

    def _clear(self) -> None:
        self.model.clear()
        self.loaded_case = None
        self.status.setText("No case open.")

    def _maybe_closed(self) -> None:
        if self.main.case_dir is None:
            self._clear()

    def _failed(self, worker: FunctionWorker, error: Exception) -> None:
        if worker is self._worker and not self.main.disposed:
            self._worker = None
            self.status.setText(f"Not counted: {error}")

    def _counted(self, worker: FunctionWorker, case_dir: Any, result: counts.TreeCounts) -> None:
        if worker is not self._worker or self.main.disposed or self.main.case_dir != case_dir:
            return  # another reading since, or another case
        self._worker = None
        expanded = set(self._expanded_keys()) if case_dir == self.loaded_case else {"evidence", "views", "results"}
        self.loaded_case = case_dir
        self.model.clear()
        root = self.model.invisibleRootItem()
        root.appendRow(self._evidence(result.evidence))
        root.appendRow(self._views(result.views))
        root.appendRow(self._results(result.results))
        root.appendRow(self._tags(result.results.tags))
        if result.views.around:
            self.around.blockSignals(True)
            self.around.setDate(QDate.fromString(result.views.around, "yyyy-MM-dd"))
            self.around.blockSignals(False)
        self._restore(expanded)
        self.status.clear()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The first time the window is wide enough, the tree takes its width (a fifth of the window at most)."""
        window = self.main.window
        if not self._sized and self.dock.width() > MINIMUM_WIDTH + 40:  # the saved layout (or the examiner) sized it
            self._sized = True
            window.removeEventFilter(self)
        if not self._sized and watched is window and event.type() == QEvent.Type.Resize and window.isVisible():
            central = window.centralWidget()
            room = window.width() - (central.minimumSizeHint().width() if central is not None else 0)
            width = min(WIDTH, window.width() // 5)
            if room >= width > self.dock.width():
                self._sized = True
                window.removeEventFilter(self)
                window.resizeDocks([self.dock], [width], Qt.Orientation.Horizontal)
        return super().eventFilter(watched, event)

    def _expanded_keys(self) -> Iterator[str]:
        for item in _walk(self.model.invisibleRootItem()):
            if self.view.isExpanded(item.index()) and item.data(KEY):
                yield str(item.data(KEY))

    def _restore(self, keys: set[str]) -> None:
        """Open again the branches open before the counts were read (folders stay closed: read when asked)."""
        for item in list(_walk(self.model.invisibleRootItem())):
            if item.data(KEY) in keys and not _is_lazy(item):
                self.view.expand(item.index())

    # the branches ----------------------------------------------------------------------------------

    def _evidence(self, places: list[Place]) -> QStandardItem:
        branch = _node("Evidence", sum(place.count for place in places), "evidence", icon=icon("disk"))
        for place in places:
            branch.appendRow(self._place(place))
        return branch

    def _place(self, place: Place) -> QStandardItem:
        key = f"place/{place.evidence_id}/{place.offset}/{place.path}"
        kind = {"evidence": "disk", "volume": "partition"}.get(place.kind, "folder")
        item = _node(visible(place.label), place.count, key, Target("place", place=place), icon=icon(kind))
        item.setToolTip(f"{visible(place.tooltip)} ({place.count:,})")
        if place.greyed:
            item.setForeground(QBrush(QColor("#888888")))
        if place.deleted:
            font = QFont()
            font.setStrikeOut(True)
            item.setFont(font)
        if place.children is not None:
            for child in place.children:
                item.appendRow(self._place(child))
        elif place.offset is not None and not place.greyed and place.count:
            item.appendRow(QStandardItem(PLACEHOLDER))  # its subfolders are read when it is opened
        return item

    def _views(self, views: counts.FileViews) -> QStandardItem:
        branch = QStandardItem("Views")
        branch.setData("views", KEY)
        branch.setToolTip(KNOWN_GOOD_TIP)
        types = _node("File types", sum(sum(group.values()) for group in views.mimes.values()), "views/types")
        for group in counts.MIME_GROUPS:
            mimes = views.mimes.get(group, {})
            target = Target("mime", mime=MimeFilter(mimes=tuple(m for m in mimes if m), untyped=None in mimes))
            node = _node(group, sum(mimes.values()), f"views/types/{group}", target)
            for mime, count in sorted(mimes.items(), key=lambda pair: (-pair[1], pair[0] or "")):
                one = Target("mime", mime=MimeFilter(mimes=(mime,) if mime else (), untyped=mime is None))
                node.appendRow(_node(visible(mime or "no type"), count, f"views/types/{group}/{mime}", one))
            types.appendRow(node)
        extensions = _node("Extensions", sum(count for _, count in views.extensions), "views/extensions")
        extensions.setToolTip(f"The {counts.TOP_EXTENSIONS} commonest extensions of the case")
        for suffix, count in views.extensions:
            extensions.appendRow(_node(f".{visible(suffix)}", count, f"views/extensions/{suffix}",
                                       Target("bar", fields=(("extension", suffix),))))
        sizes = _node("Sizes", sum(views.sizes), "views/sizes")
        for (label, low, high), count in zip(counts.SIZE_RANGES, views.sizes, strict=False):
            fields = (("min_size", "" if low is None else str(low)), ("max_size", "" if high is None else str(high)))
            sizes.appendRow(_node(label, count, f"views/sizes/{label}", Target("bar", fields=fields)))
        modified = QStandardItem()
        modified.setData("views/modified", KEY)
        _fill_modified(modified, views.around, views.modified)
        deleted = _node("Deleted files", views.deleted, "views/deleted", Target("bar", fields=(("deleted", "1"),)))
        for item in (types, extensions, deleted, sizes, modified):
            branch.appendRow(item)
        return branch

    def _results(self, results: counts.Results) -> QStandardItem:
        branch = QStandardItem("Results")
        branch.setData("results", KEY)
        sections = (("Findings", None), ("Hash-set hits", counts.HASH_SET_ANALYZER),
                    ("Correlations", counts.CORRELATION_ANALYZER))
        special = {analyzer for _, analyzer in sections if analyzer}
        for title, only in sections:
            analyzers = {a: rules for a, rules in results.findings.items() if (a == only if only else a not in special)}
            section = _node(title, sum(sum(rules.values()) for rules in analyzers.values()), f"results/{title}",
                            Target("findings", analyzer=only) if only else None)
            for analyzer, rules in analyzers.items():
                parent = section
                if only is None:
                    parent = _node(visible(analyzer), sum(rules.values()), f"results/{title}/{analyzer}",
                                   Target("findings", analyzer=analyzer))
                    section.appendRow(parent)
                for rule, count in rules.items():
                    parent.appendRow(_node(visible(rule or "(no rule)"), count, f"results/{title}/{analyzer}/{rule}",
                                           Target("findings", analyzer=analyzer, rule=rule)))
            branch.appendRow(section)
        keywords = _node("Keyword hits", sum(sum(terms.values()) for terms in results.keywords.values()),
                         "results/keywords", Target("keywords"))
        for name, terms in results.keywords.items():
            item = _node(visible(name), sum(terms.values()), f"results/keywords/{name}",
                         Target("keywords", keyword_list=name))
            for term, count in terms.items():
                item.appendRow(_node(visible(term), count, f"results/keywords/{name}/{term}",
                                     Target("keywords", keyword_list=name, term=term)))
            keywords.appendRow(item)
        branch.appendRow(keywords)
        return branch

    def _tags(self, tags: dict[str, dict[str, int]]) -> QStandardItem:
        branch = _node("Tags", sum(sum(kinds.values()) for kinds in tags.values()), "tags")
        for tag, kinds in tags.items():
            first = "file" if "file" in kinds else next(iter(kinds))
            item = _node(visible(tag), sum(kinds.values()), f"tags/{tag}", Target("tagged", object_kind=first, tag=tag))
            for kind, count in kinds.items():
                item.appendRow(_node(f"{kind}s", count, f"tags/{tag}/{kind}",
                                     Target("tagged", object_kind=kind, tag=tag)))
            branch.appendRow(item)
        return branch

    # one branch counted again, the rest of the tree left as it is (open folders stay open) ----------------

    def _recount(self, part: str, function: Callable[..., Any], args: tuple[Any, ...],
                 apply: Callable[[Any], None]) -> None:
        """Read one part of the tree again on the pool (`function(case_dir, *args)`) and `apply` it."""
        old = self._part_workers.pop(part, None)
        if old is not None:
            old.quit()
        case_dir = self.loaded_case
        if case_dir is None:
            return
        worker = FunctionWorker(function, case_dir, *args)
        worker.signals.finished.connect(lambda found: self._part_read(part, worker, case_dir, apply, found))
        worker.signals.errored.connect(lambda error: self._part_read(part, worker, case_dir, None, error))
        self._part_workers[part] = worker
        worker.start()

    def _part_read(self, part: str, worker: FunctionWorker, case_dir: Any, apply: Callable[[Any], None] | None,
                   found: Any) -> None:
        if self.main.disposed or self._part_workers.get(part) is not worker or case_dir != self.loaded_case:
            return  # asked again since, or another case
        del self._part_workers[part]
        if apply is None:
            self.status.setText(f"Not counted: {found}")
        else:
            apply(found)

    def _recount_modified(self) -> None:
        """Another date chosen: the "Modified" windows counted again."""
        around = self.around.date().toString("yyyy-MM-dd")
        self._recount("modified", counts.modified_of_case, (around,), lambda found: self._show_modified(around, found))

    def _show_modified(self, around: str, found: list[int]) -> None:
        hits = self.model.match(self.model.index(0, 0), KEY, "views/modified", 1,
                                Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        item = self.model.itemFromIndex(hits[0]) if hits else None
        if item is not None:
            _fill_modified(item, around, found)

    def _recount_tags(self) -> None:
        """A tag was written: the Tags branch counted again."""
        self._recount("tags", counts.tags_of_case, (), self._show_tags)

    def _show_tags(self, tags: dict[str, dict[str, int]]) -> None:
        root = self.model.invisibleRootItem()
        row = next((r for r in range(root.rowCount()) if root.child(r).data(KEY) == "tags"), None)
        if row is None:
            return
        expanded = set(self._expanded_keys())
        root.removeRow(row)
        root.insertRow(row, [self._tags(tags)])
        self._restore(expanded)

    # folders read when opened -----------------------------------------------------------------------

    def _expanded(self, index: QModelIndex) -> None:
        item = self.model.itemFromIndex(index)
        if item is None or not _is_lazy(item) or self.loaded_case is None:
            return
        target: Target = item.data(TARGET)
        place = target.place
        assert place is not None and place.offset is not None
        item.child(0).setText("Reading…")
        worker = FunctionWorker(counts.subfolders_of_case, self.loaded_case, place.evidence_id, place.offset, place.path)
        where = QPersistentModelIndex(index)
        case_dir = self.loaded_case
        worker.signals.finished.connect(lambda answer: self._folders_read(worker, case_dir, where, answer))
        worker.signals.errored.connect(lambda error: self._folders_read(worker, case_dir, where, None, error))
        self._folder_workers.add(worker)
        worker.start()

    def _folders_read(self, worker: FunctionWorker, case_dir: Any, where: QPersistentModelIndex,
                      answer: tuple[list[Place], int] | None, error: Exception | None = None) -> None:
        self._folder_workers.discard(worker)
        if self.main.disposed:
            return
        item = self.model.itemFromIndex(self.model.index(where.row(), 0, where.parent())) if where.isValid() else None
        if item is None or case_dir != self.loaded_case or not _is_lazy(item, reading=True):
            return  # the tree was read again meanwhile
        item.removeRow(0)
        if answer is None:
            item.appendRow(QStandardItem(f"Not read: {error}"))
            return
        places, more = answer
        for place in places:
            item.appendRow(self._place(place))
        if more:
            item.appendRow(QStandardItem(f"… more than {counts.FOLDERS_SHOWN:,} folders: the Files tab lists them all"))

    # a click on a node -----------------------------------------------------------------------------

    def open_node(self, index: QModelIndex) -> None:
        """Show what the node counts in its tab."""
        item = self.model.itemFromIndex(index)
        target = item.data(TARGET) if item is not None else None
        if not isinstance(target, Target) or self.main.case_dir is None:
            return
        handlers: dict[str, Callable[[Target], None]] = {
            "place": self._show_place, "bar": self._show_bar, "mime": self._show_mime, "findings": self._show_findings,
            "keywords": self._show_keywords, "tagged": self._show_tagged}
        handlers[target.kind](target)

    def _files_unfiltered(self) -> FilesView:
        """The Files tab with its filter bar cleared and the tagged files no longer listed, nothing read yet."""
        files = self.main.files
        bar = files.filter_bar
        quiet = [bar, bar.deleted, bar.scope, *bar.fields(), self.main.tagging.files_tagged]
        for widget in quiet:
            widget.blockSignals(True)
        bar.clear()
        bar.scope.setCurrentIndex(max(bar.scope.findData(WHOLE_CASE), 0))
        self.main.tagging.files_tagged.setChecked(False)
        for widget in quiet:
            widget.blockSignals(False)
        self.main.show_tab("filesTab")
        return files

    def _show_bar(self, target: Target) -> None:
        """Fill the filter bar's fields as the node says and list what they find across the case."""
        files = self._files_unfiltered()
        bar = files.filter_bar
        for name, text in target.fields:
            widget = getattr(bar, name)
            widget.blockSignals(True)
            if name == "deleted":
                widget.setChecked(True)
            else:
                widget.setText(text)
            widget.blockSignals(False)
        files.list_files()

    def _show_mime(self, target: Target) -> None:
        """The files of the node's MIME types across the case, in the Files tab's table (the bar has no MIME field)."""
        files = self._files_unfiltered()
        if files.model is None or target.mime is None:
            return
        sort, descending = files.sort or ("path", False)
        files.model.show_query(FileQuery(target.mime, sort=sort, descending=descending,
                                         hide_known_good=files.model.hide_known_good))
        files.folder_label.setText("Searching…")

    def _show_place(self, target: Target) -> None:
        """The evidence item, volume or folder in the Files tab's tree, its objects in the table."""
        place = target.place
        assert place is not None
        files = self._files_unfiltered()
        if files.tree_model is None:
            return
        index = files.tree_index_for(place.evidence_id, place.offset, place.path if place.kind == "folder" else None)
        if not index.isValid():
            return
        if files.tree.currentIndex() == index:
            files.list_files()
        else:
            files.tree.setCurrentIndex(index)
        files.tree.scrollTo(index)

    def _show_findings(self, target: Target) -> None:
        """The Findings tab with every severity, no search, the node's analyzer and (for a rule) only its findings;
        for a tag, the findings with that tag."""
        view = self.main.findings
        if view.model is None:
            return
        boxes = (view.severity_filter, view.analyzer_filter, view.search, self.main.tagging.findings_tagged)
        for widget in boxes:
            widget.blockSignals(True)
        view.severity_filter.setCurrentIndex(0)
        view.search.clear()
        self.main.tagging.findings_tagged.setChecked(False)
        found = view.analyzer_filter.findData(target.analyzer)
        if found < 0 and target.analyzer is not None:  # not in the last snapshot's list yet
            view.analyzer_filter.addItem(target.analyzer, target.analyzer)
            found = view.analyzer_filter.count() - 1
        view.analyzer_filter.setCurrentIndex(max(found, 0))
        for widget in boxes:
            widget.blockSignals(False)
        self.main.show_tab("findingsTab")
        if target.rule is None and target.tag is None:
            view.apply_filter()
            return
        view.model.set_filter(RuleFilter(analyzer=target.analyzer, rule=target.rule, tag=target.tag))
        view.details.clear()
        view.show_count()

    def _show_keywords(self, target: Target) -> None:
        """The Keyword Hits tab with the node's list or term chosen."""
        keywords = self.main.keywords
        self.main.tabs.setCurrentWidget(keywords.widget)
        keywords.tab_shown()
        wanted = ("term", target.keyword_list, target.term) if target.term is not None else ("list", target.keyword_list)
        tree = keywords.tree
        for top in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(top)
            if item is None:
                continue
            candidates = [item, *(item.child(number) for number in range(item.childCount()))]
            for candidate in candidates:
                if candidate is not None and tuple(candidate.data(0, KEYWORD_ROLE) or ()) == wanted:
                    item.setExpanded(True)
                    tree.setCurrentItem(candidate)
                    tree.scrollToItem(candidate)
                    return

    def _show_tagged(self, target: Target) -> None:
        """The files with the node's tag in the Files tab, or its findings in the Findings tab."""
        if target.object_kind == "finding":
            self._show_findings(target)
            return
        files = self._files_unfiltered()
        if files.model is None or target.tag is None:
            return
        sort, descending = files.sort or ("path", False)
        files.model.show_query(FileQuery(TagFilter(tag=target.tag), sort=sort, descending=descending,
                                         hide_known_good=files.model.hide_known_good))
        files.folder_label.setText("Searching…")


def _node(label: str, count: int, key: str, target: Target | None = None, icon: Any = None) -> QStandardItem:
    """A node showing its count after its label."""
    item = QStandardItem(f"{label} ({count:,})")
    item.setToolTip(item.text())  # the whole line when the pane is narrow
    item.setData(key, KEY)
    if target is not None:
        item.setData(target, TARGET)
    if icon is not None:
        item.setIcon(icon)
    return item


def _fill_modified(item: QStandardItem, around: str | None, found: list[int]) -> None:
    """The "Modified" branch: a node for each window of days ending on `around`, with its files."""
    item.removeRows(0, item.rowCount())
    item.setText(f"Modified up to {around}" if around else "Modified (no times)")
    for days, count in zip(counts.DAY_WINDOWS, found, strict=False):
        first, last = counts.modified_window(around or "", days)
        node = _node(f"last {days} days", count, f"views/modified/{days}",
                     Target("bar", fields=(("modified_from", first), ("modified_to", last))))
        node.setToolTip(f"Modified from {first} to {last} (UTC, whole days): {count:,} files")
        item.appendRow(node)


def _is_lazy(item: QStandardItem, reading: bool = False) -> bool:
    """Whether the node's only child stands for subfolders not read yet (`reading`: or being read)."""
    if item.rowCount() != 1 or item.child(0) is None:
        return False
    text = item.child(0).text()
    return text == PLACEHOLDER or (reading and text == "Reading…")


def _walk(parent: QStandardItem) -> Iterator[QStandardItem]:
    for row in range(parent.rowCount()):
        item = parent.child(row)
        if item is not None:
            yield item
            yield from _walk(item)

