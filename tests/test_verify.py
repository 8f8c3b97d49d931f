"""``autograder new`` and ``autograder verify`` (autograder.authoring).

The slow tests start an assignment with ``autograder new`` in a temporary course, break it the
way instructors do (a wrong solution, a misspelled marker, a solution without a test, a test that
misses a wrong answer) and check that ``autograder verify`` fails naming the cell and the fix;
one verifies 03.0 (engine checks) with wrong answers in a copy of the course.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import authoring, cli
from autograder.demo import write_course
from autograder.gradebook import Course
from tests.conftest import ASSIGNMENT as GRADIENT_DESCENT
from tests.conftest import REPO

ID = "04.1_standardize"


def _course(root: Path) -> Path:
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy(REPO / name, root / name)
    return root


def _main(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--course", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _verify(capsys: pytest.CaptureFixture[str], root: Path, assignment: str = ID) -> tuple[int, str]:
    code, out, _ = _main(capsys, root, "verify", assignment, "--workers", "2")
    return code, out


def _row(table: str, what: str) -> str:
    """The lines of one check in the table (its first line and the continuation lines under it)."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(what))
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1].strip()), len(lines))
    return "\n".join(lines[start:end])


@pytest.fixture
def started(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A course with the starter assignment :data:`ID`, made by ``autograder new``."""
    code, out, _ = _main(capsys, _course(tmp_path), "new", ID)
    assert code == 0 and f"source/{ID}/{ID}.ipynb" in out
    return tmp_path


def _notebook(root: Path) -> Path:
    return root / "source" / ID / f"{ID}.ipynb"


def _edit(root: Path, **sources: str) -> nbformat.NotebookNode:
    """Give the starter's cells (by grade_id) new sources; returns the notebook, written back."""
    nb = nbformat.read(_notebook(root), as_version=4)
    for cell in nb.cells:
        name = cell.metadata.get("nbgrader", {}).get("grade_id")
        if name in sources:
            cell.source = sources[name]
    nbformat.write(nb, _notebook(root))
    return nb


class TestNew:
    def test_starter_has_nbgrader_cells(self, started: Path) -> None:
        """The starter holds an intro, the import, a solution cell and its locked test cell with points,
        a visible assert with a message and a hidden block; its wrong answer parses."""
        nb = nbformat.read(_notebook(started), as_version=4)
        assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code"]
        assert nb.cells[1].source == "import numpy as np"
        solution, test = (c.metadata["nbgrader"] for c in nb.cells[2:])
        assert solution == {"schema_version": 3, "task": False, "grade": False, "grade_id": "standardize",
                            "locked": False, "solution": True}
        assert test == {"schema_version": 3, "task": False, "grade": True, "grade_id": "test_standardize",
                        "locked": True, "points": 2, "solution": False}
        assert "### BEGIN SOLUTION" in nb.cells[2].source
        assert 'assert np.allclose(_Z, [[-1.0, -1.0], [1.0, 1.0]]), \\\n    f"' in nb.cells[3].source
        assert "### BEGIN HIDDEN TESTS\n# How tests are written" in nb.cells[3].source
        wrong = authoring.parse_wrong_answer(started / "source" / ".wrong" / ID / "changes_its_input.py")
        assert wrong.loses == ("test_standardize",) and [c for c, _ in wrong.cells] == ["standardize"]

    def test_refuses_to_overwrite(self, started: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A second `new` of the same id exits 2, names the folder and leaves the notebook alone."""
        before = _notebook(started).read_bytes()
        code, _, err = _main(capsys, started, "new", ID)
        assert code == 2
        assert f"{started / 'source' / ID} already exists: `autograder new` never overwrites" in err
        assert _notebook(started).read_bytes() == before

    def test_refuses_an_unusable_id(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An id nbgrader cannot use as a folder name is refused before anything is written."""
        code, _, err = _main(capsys, _course(tmp_path), "new", "../escape")
        assert code == 2 and "is not a usable assignment id" in err
        assert not (tmp_path / "source").exists()


class TestWrongAnswerFormat:
    def test_sections_description_and_items(self, tmp_path: Path) -> None:
        """Comment lines before the first directive describe it; each `# replaces:` starts a cell."""
        path = tmp_path / "two_bugs.py"
        path.write_text("# Both losses sum.\n# loses: test_mse, test_mse_grad\n# replaces: mse\ndef mse(a, b):\n"
                        "    return 0.0\n\n# replaces: mse_grad\ndef mse_grad(a, b):\n    return a\n")
        wrong = authoring.parse_wrong_answer(path)
        assert wrong.about == "Both losses sum." and wrong.loses == ("test_mse", "test_mse_grad")
        assert wrong.cells == (("mse", "def mse(a, b):\n    return 0.0\n"),
                               ("mse_grad", "def mse_grad(a, b):\n    return a\n"))
        assert wrong.student == "wrong-two_bugs"

    def test_directives_in_either_order(self, tmp_path: Path) -> None:
        """`# replaces:` may come first and `# loses:` under it, as docs/authoring.md writes it."""
        path = tmp_path / "no_factor_2.py"
        path.write_text("# replaces: mse_grads\n# loses: test_mse_grads\ndef mse_grads(X, y, w, b):\n    return 0\n")
        wrong = authoring.parse_wrong_answer(path)
        assert wrong.loses == ("test_mse_grads",)
        assert wrong.cells == (("mse_grads", "def mse_grads(X, y, w, b):\n    return 0\n"),)

    @pytest.mark.parametrize(("text", "message"), [
        ("def mse(a, b):\n    return 0\n", "x.py:1: code before the first `# replaces: CELL` line"),
        ("# replaces: mse\ndef mse(a, b):\n    return 0\n", "x.py: no `# loses:` line"),
        ("# loses: test_mse\n", "x.py: no `# replaces:` line"),
        ("# loses: test_mse\n# replaces: mse, mse_grad\n", "x.py:2: `# replaces:` names one cell"),
        ("# loses: test_mse\n# replaces: mse\nx = 1\n# replaces: mse\nx = 2\n", "replaces the same cell twice"),
    ])
    def test_mistakes_name_the_file_and_the_fix(self, tmp_path: Path, text: str, message: str) -> None:
        """A file without its header, or with a header the tool cannot follow, says which line and what to write."""
        (tmp_path / "x.py").write_text(text)
        with pytest.raises(authoring.AuthoringError, match=message.replace("(", r"\(").replace("`", ".")):
            authoring.parse_wrong_answer(tmp_path / "x.py")

    def test_replaces_only_cells_the_student_writes(self, started: Path) -> None:
        """Replacing a test cell, or a cell that does not exist, is refused with the cells it may name."""
        nb = nbformat.read(_notebook(started), as_version=4)
        path = started / "bad.py"
        for cell, why in [("test_standardize", "it is not a cell the student writes"),
                          ("standardise", "no cell has that grade_id")]:
            path.write_text(f"# loses: test_standardize\n# replaces: {cell}\npass\n")
            with pytest.raises(authoring.AuthoringError, match=f"{why}; name one of standardize"):
                authoring.apply(authoring.parse_wrong_answer(path), {ID: nb})


@pytest.mark.slow
class TestVerify:
    def test_starter_passes(self, started: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`new` then `verify`: every check passes, in one table; the wrong answers stay out of release/
        and the instructor's course gets no submission, gradebook entry for one, or autograded notebook."""
        code, table = _verify(capsys, started)
        assert code == 0, table
        assert table.splitlines()[0].split() == ["check", "result", "details"]
        for what, details in [("release regenerated", f"release/{ID}"),
                              ("solution earns every point", "2 / 2"),
                              ("blank release earns 0", "0 / 2"),
                              ("wrong answer changes_its_input.py", "loses test_standardize: Works on the caller's")]:
            assert f"  pass     {details}" in _row(table, what)
        assert f"verify {ID}: passed (8 checks, 0 failed, 0 with warnings) in " in table.splitlines()[-1]
        release = started / "release" / ID
        assert sorted(p.name for p in release.rglob("*")) == [f"{ID}.ipynb"]
        assert not (started / "submitted").exists() and not (started / "autograded").exists()
        assert Course(started).scores(ID) == {}

    def test_wrong_solution_fails(self, started: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """(a) A solution short of its points fails, naming the item, the assert's message and the notebook."""
        _edit(started, standardize="def standardize(X):\n    ### BEGIN SOLUTION\n    return X - X.mean(axis=0)\n"
                                   "    ### END SOLUTION\n")
        code, table = _verify(capsys, started)
        assert code == 1
        row = _row(table, "solution earns every point")
        assert "FAIL     test_standardize 0 / 2 (failed: standardize([[1, 10], [3, 30]]) should be" in row
        assert f"the solution in source/{ID}/{ID}.ipynb fails its own test cell test_standardize" in row
        assert f"verify {ID}: FAILED (8 checks, 1 failed, 0 with warnings)" in table

    def test_leaks_fail(self, started: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """(b) What nbgrader lets through fails: a misspelled hidden-tests marker, a reference solution and
        wrong answers kept in the assignment's folder (nbgrader copies them: its default ignore list
        does not name .wrong); a solution line quoted in a markdown hint is a warning.  Once the course's
        nbgrader_config.py ignores .wrong, wrong answers in source/ID/.wrong/ stay out and are graded."""
        nb = _edit(started, test_standardize=nbformat.read(_notebook(started), as_version=4).cells[3].source
                   .replace("### BEGIN HIDDEN TESTS", "### BEGIN HIDDEN TEST"))
        nb.cells[0].source += "\nHint: `return (X - X.mean(axis=0)) / X.std(axis=0)` is one line.\n"
        nbformat.write(nb, _notebook(started))
        folder = started / "source" / ID
        (folder / "reference.py").write_text(authoring.starter(ID).cells[2].source)  # the instructor's own copy
        shutil.move(started / "source" / ".wrong" / ID, folder / ".wrong")
        code, table = _verify(capsys, started)
        assert code == 1
        row = _row(table, "release hides solutions and hidden tests")
        assert (f"release/{ID}/{ID}.ipynb cell 4 shows the marker '### BEGIN HIDDEN TEST': nbgrader removes only "
                "regions between") in row
        assert (f"release/{ID}/reference.py shows a line of the solution of {ID}.ipynb cell 3 (standardize): "
                "\"X = np.array(X, dtype=float)  # a copy: the caller's X is never touched\"") in row
        assert (f"release/{ID}/.wrong/changes_its_input.py: a wrong answer in the release: move it to "
                f"source/.wrong/{ID}/ (nbgrader copies every file of source/{ID}/ into the release), or add "
                '".wrong" to c.CourseDirectory.ignore in nbgrader_config.py') in row
        assert (f"release/{ID}/{ID}.ipynb cell 1 shows a line of the solution of {ID}.ipynb cell 3 (standardize): "
                "'return (X - X.mean(axis=0)) / X.std(axis=0)', as the source writes it outside that part too") in row
        (folder / "reference.py").unlink()
        _edit(started, test_standardize=nb.cells[3].source.replace("### BEGIN HIDDEN TEST\n",
                                                                   "### BEGIN HIDDEN TESTS\n"))
        with open(started / "nbgrader_config.py", "a") as out:
            out.write('c.CourseDirectory.ignore.append(".wrong")\n')
        code, table = _verify(capsys, started)
        assert code == 0, table
        assert (f"warning  release/{ID}/{ID}.ipynb cell 1 shows a line of the solution of {ID}.ipynb cell 3 "
                "(standardize)") in _row(table, "release hides solutions and hidden tests")
        assert f"pass     1 in source/{ID}/.wrong/" in _row(table, "wrong answers readable")
        assert "pass     loses test_standardize" in _row(table, "wrong answer changes_its_input.py")
        assert sorted(p.name for p in (started / "release" / ID).rglob("*")) == [f"{ID}.ipynb"]

    def test_untested_solution_and_test_without_solution_fail(self, started: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
        """(c) A solution cell without a test cell, and a test cell (without points) whose function sits
        in an ordinary cell, each fail with the cell and the fix."""
        nb = nbformat.read(_notebook(started), as_version=4)
        meta = {"schema_version": 3, "task": False, "locked": False}
        extra = nbformat.v4.new_code_cell("def center(X):\n    ### BEGIN SOLUTION\n    return X - X.mean(axis=0)\n"
                                          "    ### END SOLUTION\n")
        extra.metadata["nbgrader"] = {**meta, "grade": False, "grade_id": "center", "solution": True}
        helper = nbformat.v4.new_code_cell("def clip(x):\n    return np.clip(x, -1, 1)\n")
        test = nbformat.v4.new_code_cell('assert clip(5) == 1, "clip(5) should be 1"\n')
        test.metadata["nbgrader"] = {**meta, "grade": True, "grade_id": "test_clip", "solution": False,
                                     "locked": True, "points": 0}
        nb.cells += [extra, helper, test]
        nbformat.write(nb, _notebook(started))
        code, table = _verify(capsys, started)
        assert code == 1
        row = _row(table, "solution and test cells pair up")
        assert (f"{ID}.ipynb cell 5: solution cell center has no test cell test_center: add an autograded test "
                "cell with grade_id test_center and points") in row
        assert (f"{ID}.ipynb cell 7: test cell test_clip uses no name a solution cell defines (they define center, "
                "standardize); make the cell that defines what it tests a solution cell (grade_id clip)") in row
        assert (f"{ID}.ipynb cell 7: test cell test_clip has points 0: give it points > 0"
                in _row(table, "every test cell has points"))

    def test_wrong_answer_not_caught_fails(self, started: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """(d) Hidden tests that no longer check the input is unchanged let the wrong answer keep its
        points: verify fails naming the wrong answer and the test cell."""
        source = nbformat.read(_notebook(started), as_version=4).cells[3].source
        _edit(started, test_standardize="\n".join(ln for ln in source.splitlines() if "_X0)" not in ln))
        code, table = _verify(capsys, started)
        assert code == 1
        assert ("FAIL     test_standardize still earns 2 / 2: test cell test_standardize does not catch this answer"
                in _row(table, "wrong answer changes_its_input.py"))
        assert "solution earns every point" in table and "FAIL" not in _row(table, "solution earns every point")

    def test_gradient_descent_passes(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """03.0, graded by engine checks, passes with two wrong answers; one that breaks two cells but
        names one item passes with a warning naming the other."""
        root = write_course(tmp_path, {})
        wrong = root / "source" / ".wrong" / GRADIENT_DESCENT
        wrong.mkdir(parents=True)
        (wrong / "adam_without_bias_correction.py").write_text(
            "# loses: test_adam_step\n# replaces: adam_step\n"
            "def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):\n"
            "    m = beta1 * m + (1 - beta1) * grads\n    v = beta2 * v + (1 - beta2) * grads ** 2\n"
            "    return params - lr * m / (np.sqrt(v) + eps), m, v\n")
        (wrong / "sums.py").write_text(
            "# Sums instead of averaging, in the loss and its gradient.\n# loses: test_mse_grad\n"
            "# replaces: mse\ndef mse(y_true, y_pred):\n    return float(np.sum((y_pred - y_true) ** 2))\n"
            "# replaces: mse_grad\ndef mse_grad(y_true, y_pred):\n    return 2.0 * (y_pred - y_true)\n")
        code, table = _verify(capsys, root, GRADIENT_DESCENT)
        assert code == 0, table
        assert "pass     21 / 21" in _row(table, "solution earns every point")
        assert "pass     0 / 21" in _row(table, "blank release earns 0")
        assert "pass     loses test_adam_step" in _row(table, "wrong answer adam_without_bias_correction.py")
        assert "warning  also loses test_mse (0 / 1, failed: " in _row(table, "wrong answer sums.py")
        assert f"verify {GRADIENT_DESCENT}: passed (9 checks, 0 failed, 1 with warnings)" in table
        print(table)
