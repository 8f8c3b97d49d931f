"""Authoring tools: ``autograder new`` starts an assignment, ``autograder verify`` checks one before release.

:func:`new` writes ``source/ID/ID.ipynb``, a starter notebook in nbgrader's cell format (one
solution cell, its test cell with a visible assert and a hidden block) and one example wrong
answer; it passes :func:`verify` as written.

:func:`verify` regenerates the release and checks, each check one :class:`Line` of a
:class:`Report`: that the release shows no solution or hidden-test text, that every solution cell
has a test cell (and every test cell tests a solution) with points, and, graded by the real engine
on a throw-away copy of the course, that the instructor's solution earns every automatic point,
the blank release none, and each wrong answer loses the item it names.

**Wrong answers** live in ``source/.wrong/ID/``, one ``.py`` file each, outside the assignment's
folder: nbgrader copies every other file of ``source/ID/`` into the release (its default
``CourseDirectory.ignore`` does not skip ``.wrong``), and a wrong answer is mostly the solution.
``source/ID/.wrong/`` is read too, for courses whose ``nbgrader_config.py`` adds ``".wrong"`` to
``c.CourseDirectory.ignore``; without that, the release check fails on them.  A file names what
it must lose and one section per cell it replaces::

    # Sums instead of averaging: the loss grows with the array.   (optional description)
    # loses: test_mse
    # replaces: mse
    def mse(y_true, y_pred):
        return float(np.sum((y_pred - y_true) ** 2))

Each becomes a submission: the instructor's notebook with those cells replaced.
"""

from __future__ import annotations

import ast
import copy
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import nbformat

from autograder import batch, config
from autograder.gradebook import Course
from autograder.run.notebook import grade_id

WRONG_DIR = ".wrong"  # source/.wrong/<assignment>/*.py
MAX_DETAILS = 12  # reasons shown per check
MIN_LINE = 21  # a line this long (stripped) is distinctive enough to be searched for, as in feedback.hidden_lines
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DIRECTIVE = re.compile(r"#\s*(replaces|loses)\s*:(.*)$")
_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_LOOSE_MARKER = re.compile(r"#+\s*(begin|end)\s+(hidden\s+tests?|solutions?)\b", re.I)  # a misspelled one
_REGION = {"solution": ("BEGIN SOLUTION", "END SOLUTION"), "hidden": ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")}
_KERNEL = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
           "language_info": {"name": "python"}}


class AuthoringError(ValueError):
    """An assignment cannot be started or verified; the message names the file and the fix."""


class Result(StrEnum):
    PASS = "pass"
    WARN = "warning"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Line:
    """One check of :func:`verify`: what was checked, how it went, and why (one reason a line)."""

    what: str
    result: Result
    details: tuple[str, ...] = ()


@dataclass
class Report:
    """The checks of one :func:`verify` run, in order, and how long it took."""

    assignment: str
    lines: list[Line] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(line.result is not Result.FAIL for line in self.lines)

    def add(self, what: str, problems: list[str], passed: str = "", warnings: tuple[str, ...] = ()) -> None:
        """A line that fails with ``problems`` (and shows ``warnings`` too), else warns with ``warnings``,
        else passes saying ``passed``."""
        result = Result.FAIL if problems else Result.WARN if warnings else Result.PASS
        details = (*problems, *warnings) if problems or warnings else (passed,) if passed else ()
        if len(details) > MAX_DETAILS:
            details = (*details[:MAX_DETAILS - 1], f"... and {len(details) - MAX_DETAILS + 1} more")
        self.lines.append(Line(what, result, details))

    def table(self) -> str:
        """The report as one table (check, result, details) and a closing line with the time."""
        width = max(len("check"), *(len(line.what) for line in self.lines))
        rows = [f"{'check':<{width}}  {'result':<7}  details"]
        for line in self.lines:
            first, *more = line.details or ("",)
            rows.append(f"{line.what:<{width}}  {line.result.value:<7}  {first}".rstrip())
            rows += [f"{'':<{width}}  {'':<7}  {detail}" for detail in more]
        warned = sum(line.result is Result.WARN for line in self.lines)
        failed = sum(line.result is Result.FAIL for line in self.lines)
        rows.append(f"verify {self.assignment}: {'passed' if self.ok else 'FAILED'} ({len(self.lines)} checks, "
                    f"{failed} failed, {warned} with warnings) in {self.seconds:.1f} s")
        return "\n".join(rows)


# --- autograder new ----------------------------------------------------------------------------

_INTRO = """\
# {assignment}

Write the function below, then run the test cell under it: a failing check tells you what is
wrong. The grader also runs hidden checks of its own.

| item | what you write | points |
| --- | --- | --- |
| `standardize` | shift and scale each column to mean 0 and standard deviation 1 | 2 |
"""
_SOLUTION = '''\
def standardize(X):
    """Each column of X (n, d) shifted and scaled to mean 0 and standard deviation 1; X is unchanged."""
    ### BEGIN SOLUTION
    X = np.array(X, dtype=float)  # a copy: the caller's X is never touched
    return (X - X.mean(axis=0)) / X.std(axis=0)
    ### END SOLUTION
'''
_TEST = '''\
_Z = standardize(np.array([[1.0, 10.0], [3.0, 30.0]]))
assert np.allclose(_Z, [[-1.0, -1.0], [1.0, 1.0]]), \\
    f"standardize([[1, 10], [3, 30]]) should be [[-1, -1], [1, 1]] (got {np.round(_Z, 3).tolist()})"
### BEGIN HIDDEN TESTS
# How tests are written (this block is removed from the release; it runs only when grading):
# - a failing `assert condition, "message"` shows the student its message: say what was
#   expected and what came back. A bare `assert condition` shows only which check failed.
# - the test runs in the grader, with its own numpy; only the student's names (standardize)
#   come from their kernel. Check the result's shape and values, and that inputs are unchanged.
_rng = np.random.default_rng(1)
_X = _rng.normal(3.0, 5.0, size=(50, 4))
_X0 = _X.copy()
_Z = np.asarray(standardize(_X))
assert _Z.shape == _X.shape, f"standardize: expected shape {_X.shape} (got {_Z.shape})"
assert np.allclose(_Z.mean(axis=0), 0.0) and np.allclose(_Z.std(axis=0), 1.0), \\
    "standardize: each column should have mean 0 and standard deviation 1"
assert np.array_equal(_X, _X0), "standardize changed its input X: work on a copy"
### END HIDDEN TESTS
'''
_WRONG = '''\
# Works on the caller's array: right values, but the student's X is changed.
# loses: test_standardize
# replaces: standardize
def standardize(X):
    X = np.asarray(X, dtype=float)
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    return X
'''


def _cell(source: str, **nbgrader: object) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **nbgrader}
    return cell


def starter(assignment: str) -> nbformat.NotebookNode:
    """The starter notebook: an intro, the imports, one solution cell and its test cell."""
    nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(_KERNEL))
    nb.cells = [nbformat.v4.new_markdown_cell(_INTRO.format(assignment=assignment)),
                nbformat.v4.new_code_cell("import numpy as np"),
                _cell(_SOLUTION, grade=False, grade_id="standardize", locked=False, solution=True),
                _cell(_TEST, grade=True, grade_id="test_standardize", locked=True, points=2, solution=False)]
    return nb


def new(course: Course, assignment: str) -> list[Path]:
    """Write the starter notebook ``source/ID/ID.ipynb`` and an example wrong answer; never
    overwrites.  Returns the files written."""
    if not _ID.fullmatch(assignment):
        raise AuthoringError(f"{assignment!r} is not a usable assignment id: use letters, digits, '_', '.' and "
                             "'-', starting with a letter or digit (e.g. 04.0_linear_regression)")
    folder, wrong = course.root / "source" / assignment, wrong_dir(course, assignment)
    for existing in (folder, wrong):
        if existing.exists():
            raise AuthoringError(f"{existing} already exists: `autograder new` never overwrites an assignment; "
                                 "choose another id, or edit that one and run `autograder verify " f"{assignment}`")
    folder.mkdir(parents=True)
    wrong.mkdir(parents=True)
    notebook = folder / f"{assignment}.ipynb"
    nbformat.write(starter(assignment), notebook)
    example = wrong / "changes_its_input.py"
    example.write_text(_WRONG)
    return [notebook, example]


# --- wrong answers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WrongAnswer:
    """One instructor-written wrong answer: the cells it replaces and the items it must lose."""

    path: Path
    loses: tuple[str, ...]
    cells: tuple[tuple[str, str], ...]  # (grade_id of the cell it replaces, the new source)
    about: str = ""  # its description, from the comment lines before the first directive

    @property
    def student(self) -> str:
        """The student id its submission is graded under."""
        return f"wrong-{self.path.stem}"


def wrong_dir(course: Course, assignment: str) -> Path:
    """Where :func:`new` puts wrong answers, and where nbgrader never looks."""
    return course.root / "source" / WRONG_DIR / assignment


def wrong_answers(course: Course, assignment: str) -> tuple[list[WrongAnswer], list[str]]:
    """The wrong answers of ``assignment`` (``source/.wrong/ID/*.py``, ``source/ID/.wrong/*.py``) and
    the problems of those that cannot be read."""
    wrong: list[WrongAnswer] = []
    broken: list[str] = []
    for folder in (wrong_dir(course, assignment), course.root / "source" / assignment / WRONG_DIR):
        for path in sorted(folder.glob("*.py")):
            try:
                answer = parse_wrong_answer(path)
            except AuthoringError as exc:
                broken.append(str(exc))
                continue
            twin = next((w for w in wrong if w.student == answer.student), None)
            if twin:
                broken.append(f"{path}: {twin.path} has the same name; rename one of them")
            else:
                wrong.append(answer)
    return wrong, broken


def parse_wrong_answer(path: Path) -> WrongAnswer:
    """Read one wrong-answer file (format in the module docstring); errors name the file and line."""
    if not _ID.fullmatch(path.stem):
        raise AuthoringError(f"{path}: rename it: a wrong answer's name may hold letters, digits, '_', '.', '-'")
    loses: list[str] = []
    cells: list[tuple[str, list[str]]] = []
    about: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        directive = _DIRECTIVE.match(line)
        if directive and directive[1] == "loses":
            loses += [item for item in re.split(r"[\s,]+", directive[2]) if item]
        elif directive:
            names = [name for name in re.split(r"[\s,]+", directive[2]) if name]
            if len(names) != 1:
                raise AuthoringError(f"{path}:{number}: `# replaces:` names one cell (got {directive[2].strip()!r}); "
                                     "start a new `# replaces: CELL` section for each cell")
            cells.append((names[0], []))
        elif cells:
            cells[-1][1].append(line)
        elif line.startswith("#"):
            about.append(line.lstrip("#").strip())
        elif line.strip():
            raise AuthoringError(f"{path}:{number}: code before the first `# replaces: CELL` line; start the file "
                                 "with `# loses: test_NAME` and `# replaces: NAME` (the solution cell's grade_id)")
    if not cells or not loses:
        raise AuthoringError(f"{path}: no `# {'replaces' if not cells else 'loses'}:` line; a wrong answer says which "
                             "solution cell it replaces (`# replaces: NAME`) and which item it must lose "
                             "(`# loses: test_NAME`)")
    seen = [name for name, _ in cells]
    if len(set(seen)) != len(seen):
        raise AuthoringError(f"{path}: replaces the same cell twice ({', '.join(seen)}); keep one section per cell")
    return WrongAnswer(path, tuple(loses), tuple((name, "\n".join(body).strip("\n") + "\n") for name, body in cells),
                       " ".join(about))


def apply(wrong: WrongAnswer, notebooks: dict[str, nbformat.NotebookNode]) -> dict[str, nbformat.NotebookNode]:
    """The instructor's notebooks (name -> notebook) with ``wrong``'s cells replaced; only cells
    the student writes (solution cells, unlocked cells that are not tests) may be."""
    out = {name: copy.deepcopy(nb) for name, nb in notebooks.items()}
    for item, source in wrong.cells:
        found = [(name, cell) for name, nb in out.items() for cell in nb.cells if grade_id(cell) == item]
        if len(found) != 1 or not _is_student(found[0][1]):
            student_cells = sorted({grade_id(c) or "" for nb in notebooks.values() for c in nb.cells if _is_student(c)})
            why = ("no cell has that grade_id" if not found else f"{len(found)} notebooks have it" if len(found) > 1
                   else "it is not a cell the student writes")
            raise AuthoringError(f"{wrong.path}: `# replaces: {item}`: {why}; name one of {', '.join(student_cells)}")
        found[0][1].source = source
    return out


# --- the checks of a release and its source -----------------------------------------------------


def _meta(cell: nbformat.NotebookNode) -> dict[str, object]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _is_test(cell: nbformat.NotebookNode) -> bool:
    """An automatically graded test cell."""
    meta = _meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution") and bool(grade_id(cell))


def _is_student(cell: nbformat.NotebookNode) -> bool:
    """A code cell the student writes: a solution cell, or an unlocked nbgrader cell that is not a test."""
    meta = _meta(cell)
    return cell.cell_type == "code" and bool(grade_id(cell)) and (
        bool(meta.get("solution")) or not (meta.get("locked") or meta.get("grade")))


def _split(source: str, kind: str) -> tuple[list[str], list[str]]:
    """The lines of ``source`` inside ``kind`` regions (marker lines dropped, as nbgrader does), and the others."""
    begin, end = _REGION[kind]
    inside: list[str] = []
    outside: list[str] = []
    active = False
    for line in source.splitlines():
        if begin in line or end in line:
            active = begin in line
        else:
            (inside if active else outside).append(line)
    return inside, outside


def _lines(nb: nbformat.NotebookNode, name: str) -> tuple[dict[str, str], set[str]]:
    """(distinctive secret line -> where it is written, the lines students are shown) of an
    instructor notebook.  Secret: the lines of solution regions (a whole solution cell without
    one) and hidden-test blocks, less those their own cell shows students anyway."""
    secrets: dict[str, str] = {}
    public: set[str] = set()
    for number, cell in enumerate(nb.cells, start=1):
        meta = _meta(cell)
        kind = "solution" if meta.get("solution") else "hidden" if meta.get("grade") else ""
        inside, outside = _split(cell.source, kind) if kind else ([], cell.source.splitlines())
        if kind == "solution" and not any(_REGION["solution"][0] in ln for ln in cell.source.splitlines()):
            inside, outside = outside, []
        shown = {ln.strip() for ln in outside}
        public |= shown
        what = "solution" if kind == "solution" else "hidden tests"
        for line in (ln.strip() for ln in inside):
            if len(line) >= MIN_LINE and line not in shown:
                secrets.setdefault(line, f"the {what} of {name} cell {number} ({grade_id(cell)})")
    return secrets, public


def _texts(release: Path, root: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for every cell (source and outputs) of the release's notebooks and every other file."""
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        where = str(path.relative_to(root))
        if path.suffix == ".ipynb":
            for number, cell in enumerate(nbformat.read(path, as_version=4).cells, start=1):
                outputs = [str(v) for out in cell.get("outputs", []) for v in _strings(out)]
                yield f"{where} cell {number}", "\n".join([cell.source, *outputs])
        elif path.stat().st_size < 10 * 1024**2:
            yield where, path.read_text(errors="replace")


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def leaks(course: Course, assignment: str, wrong: list[WrongAnswer]) -> tuple[list[str], list[str]]:
    """What the release shows that it must not: nbgrader's markers (or misspelled ones), lines of
    the solutions, hidden tests and wrong answers, a wrong answer's file.  Returns (problems,
    warnings): a secret line the instructor also wrote outside the secret parts (a hint in a
    markdown cell, say) is a warning, as it may be meant."""
    source, release = course.root / "source" / assignment, course.release_dir(assignment)
    secrets: dict[str, str] = {}
    shown: set[str] = set()
    for path in sorted(source.glob("*.ipynb")):
        found, lines = _lines(nbformat.read(path, as_version=4), path.name)
        secrets.update(found)
        shown |= lines
    public = "\n".join(sorted(shown))  # what the instructor writes for students, searched as text
    for answer in wrong:  # the lines of a wrong answer that students are not shown anyway (a signature)
        for line in (ln.strip() for _, body in answer.cells for ln in body.splitlines()):
            if len(line) >= MIN_LINE and line not in public:
                secrets.setdefault(line, f"the wrong answer {answer.path.relative_to(course.root)}")
    problems = [f"{path.relative_to(course.root)}: a wrong answer in the release: move it to "
                f"{wrong_dir(course, assignment).relative_to(course.root)}/ (nbgrader copies every file of "
                f"source/{assignment}/ into the release), or add \".wrong\" to c.CourseDirectory.ignore in "
                "nbgrader_config.py"
                for path in sorted(release.rglob("*")) if path.is_file() and WRONG_DIR in path.parts]
    warnings: list[str] = []
    for where, text in _texts(release, course.root):
        marker = next((m for m in _MARKERS if m in text), None) or (m[0] if (m := _LOOSE_MARKER.search(text)) else None)
        if marker:
            problems.append(f"{where} shows the marker {marker!r}: nbgrader removes only regions between "
                            "'### BEGIN SOLUTION'/'### END SOLUTION' and '### BEGIN HIDDEN TESTS'/'### END HIDDEN "
                            "TESTS', spelled so; fix the marker in source/")
        for line, origin in secrets.items():
            if line in text and line in public:
                warnings.append(f"{where} shows a line of {origin}: {_short(line)!r}, as the source writes it outside "
                                "that part too: keep it only if it is a hint you mean to give")
            elif line in text:
                problems.append(f"{where} shows a line of {origin}: {_short(line)!r}; remove or rephrase it there")
    return problems, warnings


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _short(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _names_bound(source: str) -> set[str] | None:
    """Top-level names a cell defines (functions, classes, assignments); None when it is not plain Python."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _names_used(source: str) -> set[str] | None:
    try:
        return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    except SyntaxError:
        return None


def structure(course: Course, assignment: str) -> tuple[list[str], list[str]]:
    """Problems of the source's cells: (solution cells without a test cell and test cells that
    test no solution, test cells without points)."""
    untested: list[str] = []
    pointless: list[str] = []
    for path in sorted((course.root / "source" / assignment).glob("*.ipynb")):
        cells = list(enumerate(nbformat.read(path, as_version=4).cells, start=1))
        tests = {grade_id(c): (n, c) for n, c in cells if _is_test(c)}
        used = {gid: _names_used(c.source) for gid, (_, c) in tests.items()}
        student = {n: (grade_id(c), _names_bound(c.source)) for n, c in cells if _is_student(c)}
        defined = set().union(*(names or set() for _, names in student.values()))
        for number, cell in cells:
            if not (_is_student(cell) and _meta(cell).get("solution")) or _meta(cell).get("grade"):
                continue  # not a solution cell, or one graded by hand
            item, names = grade_id(cell), student[number][1]
            if f"test_{item}" not in tests:
                untested.append(f"{path.name} cell {number}: solution cell {item} has no test cell test_{item}: add "
                                f"an autograded test cell with grade_id test_{item} and points, or fix the grade_id")
            elif names and not any(u is None or names & u for u in used.values()):
                untested.append(f"{path.name} cell {number}: no test cell uses what solution cell {item} defines "
                                f"({', '.join(sorted(names))}); test it in test_{item}")
        for gid, (number, cell) in tests.items():
            tests_a_file = "expect_accuracy" in (used[gid] or set())  # a model file the notebook saves
            if used[gid] is not None and not (used[gid] or set()) & defined and not tests_a_file:
                untested.append(f"{path.name} cell {number}: test cell {gid} uses no name a solution cell defines "
                                f"(they define {', '.join(sorted(defined)) or 'nothing'}); make the cell that defines "
                                f"what it tests a solution cell (grade_id {str(gid).removeprefix('test_')})")
            points = _meta(cell).get("points", 0)
            if not isinstance(points, int | float) or points <= 0:
                pointless.append(f"{path.name} cell {number}: test cell {gid} has points {points!r}: give it points "
                                 "> 0 in its nbgrader metadata (the Create Assignment toolbar)")
    return untested, pointless


# --- grading on a throw-away copy -----------------------------------------------------------------


def grade_copy(course: Course, assignment: str, submissions: dict[str, dict[str, nbformat.NotebookNode]],
               workers: int | None = None) -> dict[str, batch.SubmissionRun]:
    """Grade ``submissions`` (student -> notebook name -> notebook) of ``assignment`` with the real
    engine, in one batch, on a copy of the course in a temporary folder: the course's gradebook,
    submitted/ and autograded/ are never touched.  Student id -> run."""
    own = config.load(course.root, workers=workers)
    with tempfile.TemporaryDirectory(prefix=f"verify-{assignment}-") as tmp:
        root = Path(tmp)
        for name in ("nbgrader_config.py", "course.toml"):
            if (course.root / name).is_file():
                shutil.copy(course.root / name, root / name)
        shutil.copytree(course.root / "source" / assignment, root / "source" / assignment)
        shutil.copytree(course.release_dir(assignment), root / "release" / assignment)
        for student, notebooks in submissions.items():
            folder = root / "submitted" / student / assignment
            folder.mkdir(parents=True)
            for name, nb in notebooks.items():
                nbformat.write(nb, folder / f"{name}.ipynb")
            (folder / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC")
        cfg = config.load(root, workers=own.worker_count, data_dir=own.data_dir, cluster="")
        runs = batch.grade(Course(root), assignment, cfg, executor=batch.LocalExecutor(cfg.worker_count),
                           progress=False, force=True)
    return {run.job.student: run for run in runs}


def _items(run: batch.SubmissionRun) -> dict[str, tuple[float, float, str]]:
    """Item -> (points, max points, "status: message") of one run."""
    return {r.item: (r.points, r.max_points, f"{r.status.value}: {r.message}"[:160])
            for rs in run.results.values() for r in rs}


def _graded(report: Report, runs: dict[str, batch.SubmissionRun], wrong: list[WrongAnswer], source: str) -> None:
    """The lines of the graded submissions: the solution, the blank release, each wrong answer."""
    solution, blank = runs["solution"], runs["release"]
    total = sum(m for _, m, _ in _items(solution).values())
    report.add("solution earns every point", [
        f"{item} {p:g} / {m:g} ({why}): the solution in {source} fails its own test cell {item}; fix one of them"
        for item, (p, m, why) in _items(solution).items() if p < m], f"{solution.score:g} / {total:g}")
    stopped = [r for rs in blank.results.values() for r in rs if r.status in batch.STOPPED]
    report.add("blank release earns 0", [
        *(f"{r.item}: {r.status.value} ({r.message[:100]}): grading the blank release must finish, or every "
          "student who leaves it blank gets this; see what runs without the student's code" for r in stopped),
        *(f"{item} earns {p:g} / {m:g} with no answer written: its test passes without the student's code"
          for item, (p, m, _) in _items(blank).items() if p > 0)],
        f"0 / {total:g} (statuses: " + ", ".join(sorted({r.status.value for rs in blank.results.values() for r in rs}))
        + ")")
    for answer in wrong:
        items = _items(runs[answer.student])
        kept = [f"{item} still earns {items[item][0]:g} / {items[item][1]:g}: test cell {item} does not catch this "
                "answer; add an assert that does (or fix its `# loses:` line)" for item in answer.loses
                if item in items and items[item][0] >= items[item][1]]
        unknown = [f"`# loses: {item}`: no such test cell (items: {', '.join(items)})"
                   for item in answer.loses if item not in items]
        also = tuple(f"also loses {item} ({p:g} / {m:g}, {why})" for item, (p, m, why) in items.items()
                     if p < m and item not in answer.loses)
        report.add(f"wrong answer {answer.path.name}", unknown + kept,
                   f"loses {', '.join(answer.loses)}" + (f": {answer.about}" if answer.about else ""), also)


def verify(course: Course, assignment: str, workers: int | None = None) -> Report:
    """Regenerate the release of ``assignment`` and check it end to end (see the module docstring)."""
    start = time.monotonic()
    report = Report(assignment)
    source = course.root / "source" / assignment
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise AuthoringError(f"no notebook in {source}: write one there, or start one with `autograder new "
                             f"{assignment}`")
    wrong, broken = wrong_answers(course, assignment)
    result = course.api().generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        log = [ln for ln in f"{result.get('log') or ''}\n{result.get('error') or ''}".splitlines() if ln.strip()]
        report.add("release regenerated", [f"nbgrader generate_assignment {assignment} --force failed:", *log[-8:]])
        report.seconds = time.monotonic() - start
        return report
    release = course.release_dir(assignment)
    report.add("release regenerated", [], str(release.relative_to(course.root)))
    problems, warnings = leaks(course, assignment, wrong)
    files = [p.suffix == ".ipynb" for p in release.rglob("*") if p.is_file()]
    report.add("release hides solutions and hidden tests", problems,
               f"searched {_count(sum(files), 'notebook')} and {_count(files.count(False), 'other file')}",
               tuple(warnings))
    untested, pointless = structure(course, assignment)
    report.add("solution and test cells pair up", untested, "every solution cell is tested")
    report.add("every test cell has points", pointless, "all above 0")
    solution = {p.stem: nbformat.read(p, as_version=4) for p in paths}
    submissions = {"solution": solution,
                   "release": {p.stem: nbformat.read(p, as_version=4) for p in sorted(release.glob("*.ipynb"))}}
    for answer in list(wrong):
        try:
            submissions[answer.student] = apply(answer, solution)
        except AuthoringError as exc:
            broken.append(str(exc))
            wrong.remove(answer)
    folders = sorted({f"{answer.path.parent.relative_to(course.root)}/" for answer in wrong})
    report.add("wrong answers readable", broken, f"{len(wrong)} in {', '.join(folders)}" if wrong else
               f"none: write some in {wrong_dir(course, assignment).relative_to(course.root)}/")
    try:
        runs = grade_copy(course, assignment, submissions, workers)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        report.add("grading", [f"{type(exc).__name__}: {exc}"])
    else:
        _graded(report, runs, wrong, str(paths[0].relative_to(course.root)))
    report.seconds = time.monotonic() - start
    return report
