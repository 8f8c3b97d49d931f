"""The platform's parts without a hub: layout, role settings, kernel spec, the inbound's checks,
the self-check table and ledger, the hand-back of files, and finding a platform's processes."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autograder import selfcheck
from autograder.config import ConfigError
from autograder.hub import daemon, provision
from autograder.hub.exchange import Submission, latest, parse_name, special_files
from autograder.hub.layout import REPO, STATE_ENV, Platform
from tests.conftest import MNIST_SOURCE

TS = "2026-11-26 21:{:02d}:00.000000 UTC"


class TestPlatform:
    def test_settings_round_trip(self, tmp_path: Path) -> None:
        """platform.json holds the settings and the derived names the hub's configuration reads."""
        platform = Platform(state_dir=str(tmp_path), account_prefix="t-", port=18000)
        data = json.loads(platform.save().read_text())
        assert Platform.load(platform.settings_file) == platform
        assert data["derived"]["grader"] == "t-grader-lesson03"
        assert data["derived"]["course_dir"] == "/home/t-grader-lesson03/lesson03"
        assert data["derived"]["formgrade_group"] == "formgrade-lesson03"

    def test_unknown_role_is_refused(self) -> None:
        """A role other than student, instructor, grader is an error that names the roles."""
        with pytest.raises(ValueError, match="student, instructor, grader"):
            Platform().jupyter_dir("admin")


class TestRoleSettings:
    def test_students_get_the_assignment_list_only(self, tmp_path: Path) -> None:
        """Students' servers load no formgrader; their JupyterLab hides formgrader and create-assignment."""
        platform = Platform(state_dir=str(tmp_path))
        provision.role_settings(platform)
        student = platform.jupyter_dir("student")
        server = json.loads((student / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
        assert server["nbgrader.server_extensions.formgrader"] is False
        assert server["nbgrader.server_extensions.assignment_list"] is True
        lab = json.loads((student / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
        assert lab["@jupyter/nbgrader:formgrader"] and lab["@jupyter/nbgrader:create-assignment"]
        assert "@jupyter/nbgrader:assignment-list" not in lab
        assert f"c.Exchange.root = {platform.exchange!r}" in (student / "nbgrader_config.py").read_text()

    def test_grader_runs_the_formgrader_with_the_course_and_hardened_collect(self, tmp_path: Path) -> None:
        """The grader's server has the formgrader, reads the course's own settings and collects safely."""
        platform = Platform(state_dir=str(tmp_path))
        provision.role_settings(platform)
        grader = platform.jupyter_dir("grader")
        config = (grader / "nbgrader_config.py").read_text()
        assert f"load_subconfig({str(platform.course_dir / 'nbgrader_config.py')!r})" in config
        assert "c.ExchangeFactory.collect = 'autograder_exchange.VerifiedCollect'" in config
        assert "c.Execute.kernel_name = 'none-grade-with-autograder'" in config  # no unconfined autograde
        assert "class VerifiedCollect" in (grader / "python" / "autograder_exchange.py").read_text()
        server = json.loads((grader / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
        assert server["nbgrader.server_extensions.formgrader"] is True


class TestKernelSpec:
    @pytest.mark.parametrize("gpu,name", [(True, "Python 3 (GPU)"), (False, "Python 3 (CPU)")])
    def test_gpu_or_cpu(self, tmp_path: Path, gpu: bool, name: str) -> None:
        """The python3 kernel is "Python 3 (GPU)" on a GPU host, else the CPU one with the GPU hidden."""
        platform = Platform(runtime=str(tmp_path))
        provision.kernel_spec(platform, gpu=gpu)
        spec = json.loads((tmp_path / "share/jupyter/kernels/python3/kernel.json").read_text())
        assert spec["display_name"] == name
        assert spec["argv"][0] == str(tmp_path / "bin" / "python")
        assert ("CUDA_VISIBLE_DEVICES" in spec["env"]) is (not gpu)

    def test_follows_the_device(self, tmp_path: Path) -> None:
        """Without an explicit choice, /dev/nvidia0 decides."""
        spec = provision.kernel_spec(Platform(runtime=str(tmp_path)))
        assert spec["display_name"] == ("Python 3 (GPU)" if Path("/dev/nvidia0").exists() else "Python 3 (CPU)")


class TestInbound:
    def _submit(self, inbound: Path, name: str) -> Path:
        folder = inbound / name
        folder.mkdir(parents=True)
        (folder / "a.ipynb").write_text("{}")
        return folder

    def test_latest_genuine_submission_per_student(self, tmp_path: Path) -> None:
        """The newest folder a student owns counts; forged names, links and other assignments do not."""
        inbound = tmp_path / "inbound"
        self._submit(inbound, f"root+A+{TS.format(1)}+r1")
        self._submit(inbound, f"root+A+{TS.format(2)}+r2")
        self._submit(inbound, f"root+B+{TS.format(3)}+r3")  # another assignment
        self._submit(inbound, f"nobody+A+{TS.format(4)}+r4")  # root's folder in nobody's name
        (inbound / f"root+A+{TS.format(5)}+r5").symlink_to(inbound / f"root+A+{TS.format(1)}+r1")
        self._submit(inbound, "not-a-submission")
        found = latest(inbound, "A")
        assert list(found) == ["root"]
        assert found["root"].timestamp == TS.format(2)

    def test_unparsable_names_are_skipped(self, tmp_path: Path) -> None:
        """A folder whose timestamp does not parse (which stops nbgrader's own collect) is passed over."""
        self._submit(tmp_path, "root+A+not-a-time+r1")
        self._submit(tmp_path, "root+A+")
        self._submit(tmp_path, f"root+A+{TS.format(1)}+r2")
        assert latest(tmp_path, "A")["root"].timestamp == TS.format(1)

    def test_due_date_prefers_the_last_submission_on_time(self, tmp_path: Path) -> None:
        """With a due date, the latest submission at or before it counts (nbgrader's before_duedate)."""
        for minute in (1, 2, 5):
            self._submit(tmp_path, f"root+A+{TS.format(minute)}+r{minute}")
        due = datetime(2026, 11, 26, 21, 3)
        assert latest(tmp_path, "A", before=due)["root"].timestamp == TS.format(2)
        assert latest(tmp_path, "A", before=datetime(2026, 1, 1))["root"].timestamp == TS.format(5)

    def test_name_parts(self) -> None:
        """Names split as nbgrader's collect splits them."""
        assert parse_name(f"ada+03.0+{TS.format(1)}+abc") == ("ada", "03.0", TS.format(1))
        assert parse_name("ada+03.0") is None

    def test_links_are_special(self, tmp_path: Path) -> None:
        """A link anywhere in a submission is reported; plain files and folders are not."""
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "ok.txt").write_text("x")
        assert special_files(tmp_path) == []
        (tmp_path / "sub" / "evil.ipynb").symlink_to("/etc/shadow")
        assert special_files(tmp_path) == ["sub/evil.ipynb"]


class TestSelfCheckSettings:
    def test_table(self, tmp_path: Path) -> None:
        """[selfcheck] assignments lists the assignments graded on submission; none without the table."""
        assert selfcheck.assignments(tmp_path) == []
        (tmp_path / "course.toml").write_text('[grading]\nworkers = 1\n\n[selfcheck]\nassignments = ["03.0"]\n')
        assert selfcheck.assignments(tmp_path) == ["03.0"]

    def test_wrong_value_names_the_key(self, tmp_path: Path) -> None:
        """A value that is not a list of ids is an error naming the key and the file."""
        (tmp_path / "course.toml").write_text('[selfcheck]\nassignments = "03.0"\n')
        with pytest.raises(ConfigError, match=r"selfcheck.assignments = '03.0' must be a list"):
            selfcheck.assignments(tmp_path)


class TestLedger:
    def _outcome(self, status: str, timestamp: str, attempts: int = 1) -> selfcheck.Outcome:
        return selfcheck.Outcome("A", "ada", timestamp, status, attempts=attempts)

    def test_same_timestamp_once_new_timestamp_again(self, tmp_path: Path) -> None:
        """A handled submission is done; a resubmission (new timestamp) is not; the file persists it."""
        ledger = selfcheck.Ledger(tmp_path / "ledger.json")
        first = Submission("ada", "A", TS.format(1), tmp_path)
        assert not ledger.is_done(first)
        ledger.put(self._outcome("released", TS.format(1)))
        assert selfcheck.Ledger(tmp_path / "ledger.json").is_done(first)
        assert not ledger.is_done(Submission("ada", "A", TS.format(2), tmp_path))

    def test_errors_are_retried_later_then_given_up(self, tmp_path: Path) -> None:
        """A failed submission waits before its next try, and is given up after MAX_ATTEMPTS."""
        ledger = selfcheck.Ledger(tmp_path / "ledger.json")
        submission = Submission("ada", "A", TS.format(1), tmp_path)
        ledger.put(self._outcome("error", TS.format(1)))
        assert ledger.is_done(submission)  # too soon
        past = datetime.now(UTC) - timedelta(seconds=selfcheck.RETRY_AFTER_S + 1)
        ledger.records["A/ada"]["at"] = past.isoformat()
        assert not ledger.is_done(submission)
        ledger.records["A/ada"]["attempts"] = selfcheck.MAX_ATTEMPTS
        assert ledger.is_done(submission)


def test_hand_back_keeps_root_settings(tmp_path: Path) -> None:
    """Everything root wrote goes to the grader, except the course settings root's engine reads."""
    (tmp_path / "autograded" / "ada").mkdir(parents=True)
    (tmp_path / "autograded" / "ada" / "x.ipynb").write_text("{}")
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "course.toml").write_text("")
    (tmp_path / "data" / "hidden").mkdir(parents=True)
    (tmp_path / "data" / "hidden" / "mnist_hidden.npz").write_text("")
    nobody = 65534
    assert provision.hand_back(tmp_path, nobody, nobody) == 3
    assert (tmp_path / "autograded" / "ada" / "x.ipynb").stat().st_uid == nobody
    assert (tmp_path / "nbgrader_config.py").stat().st_uid == 0
    assert (tmp_path / "course.toml").stat().st_uid == 0
    assert {p.stat().st_uid for p in (tmp_path / "data").rglob("*")} == {0}  # the hidden split stays root's


class TestLockDown:
    def test_repository_and_course_source_become_roots_alone(self, tmp_path: Path) -> None:
        """``up`` makes the course it runs from and the engine's repository mode 0700."""
        course = tmp_path / "course"
        course.mkdir(mode=0o755)
        locked = provision.lock_down(Platform(state_dir=str(tmp_path / "state"), course_source=str(course)))
        assert locked == [course.resolve(), REPO]
        assert {oct(p.stat().st_mode & 0o777) for p in locked} == {"0o700"}
        assert (REPO / ".venv").stat().st_mode & 0o005 == 0o005  # the sandbox runs it: its mode is kept

    def test_refuses_a_course_another_user_owns(self, tmp_path: Path) -> None:
        """A course folder that is not root's is refused, with the path and the fix."""
        course = tmp_path / "course"
        course.mkdir(mode=0o755)
        os.chown(course, 65534, 65534)
        with pytest.raises(PermissionError, match=rf"{course}.*chown -R root:root"):
            provision.lock_down(Platform(state_dir=str(tmp_path / "state"), course_source=str(course)))

    def test_refuses_a_folder_others_can_write_above_it(self, tmp_path: Path) -> None:
        """A parent that anyone may write (no sticky bit) would let a student swap the repository."""
        shared = tmp_path / "shared"
        (shared / "course").mkdir(parents=True)
        shared.chmod(0o777)
        with pytest.raises(PermissionError, match=rf"{shared} .*mode 0o777.*another user replace"):
            provision.lock_down(Platform(state_dir=str(tmp_path / "state"), course_source=str(shared / "course")))


def test_course_data_built_once_and_published(tmp_path: Path) -> None:
    """``up`` builds the course data from MNIST's files into the live course (hidden split root's,
    0600) and copies the public part where every user reads it; a second ``up`` keeps both."""
    platform = Platform(state_dir=str(tmp_path / "state"), home_root=str(tmp_path), mnist_source=str(MNIST_SOURCE))
    platform.course_dir.mkdir(parents=True)
    (platform.course_dir / "course.toml").write_text('[grading]\ndata_dir = "data"\n')
    sizes = provision.course_data(platform)
    assert sizes is not None and sizes["subset"] and sizes["train"] > 0
    hidden = platform.course_dir / "data" / "hidden" / "mnist_hidden.npz"
    assert oct(hidden.stat().st_mode & 0o777) == "0o600" and oct(hidden.parent.stat().st_mode & 0o777) == "0o700"
    public = platform.public_data / "mnist.npz"
    assert oct(public.stat().st_mode & 0o777) == "0o644" and oct(public.parent.stat().st_mode & 0o777) == "0o755"
    before = public.stat().st_mtime_ns
    assert provision.course_data(platform) is None
    assert public.stat().st_mtime_ns == before


def test_stop_ends_every_marked_process(tmp_path: Path) -> None:
    """``down`` finds a platform's processes by their mark and ends them, and only them."""
    platform = Platform(state_dir=str(tmp_path / "state"))
    mine = subprocess.Popen(["sleep", "60"], env={**os.environ, STATE_ENV: platform.state_dir})
    other = subprocess.Popen(["sleep", "60"], env={**os.environ, STATE_ENV: str(tmp_path / "another")})
    try:
        deadline = time.monotonic() + 5
        while mine.pid not in set(daemon.processes(platform)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert set(daemon.processes(platform)) == {mine.pid}
        assert daemon.stop(platform) == [mine.pid]
        assert mine.wait(timeout=5) != 0
        assert other.poll() is None
    finally:
        for proc in (mine, other):
            proc.kill()
            proc.wait()
