"""Progress output for ``verbose > 0``: teacher fits and student epochs.

Where a person watches (a terminal, or a Jupyter notebook), progress is a tqdm bar from
``tqdm.auto`` on stderr, which draws a widget in notebooks and text in terminals. Where
nobody watches live (output piped to a file or a CI log), bars would write hundreds of
carriage-return updates, so progress becomes a few plain INFO records of the
``"skdistill"`` logger instead. tqdm is optional: without it, progress is always records.

The library never prints to stdout. When ``verbose > 0`` asks for progress and the
application has configured no logging handler, records go to stderr through a handler
added to the ``"skdistill"`` logger (:func:`log_to_stderr`); an application that
configures logging itself gets them through its own handlers instead.

The training code only sees two small interfaces:

- teachers: ``progress.track(results, labels)`` wraps the iterator of finished jobs;
- student: ``progress(record)`` is called with each epoch's history record.
"""

import logging
import sys
import time

__all__ = ["make_progress", "logger", "log_to_stderr"]

_PREFIX = "[skdistill]"

#: The library's one logger; progress is INFO, problems the user can act on WARNING.
logger = logging.getLogger("skdistill")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives.

    Holding the stream object from creation time would keep writing to a replaced
    stream (pytest's capture, a notebook's redirection) after it is swapped.
    """

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def log_to_stderr(level=logging.INFO):
    """Send the ``"skdistill"`` logger's records of ``level`` and above to stderr.

    Adds one handler (once; later calls only change its level). The command line and
    the demo call it; a library user calls it, or configures :mod:`logging` as usual.

    Returns
    -------
    logging.Handler

    Examples
    --------
    >>> import logging
    >>> from skdistill._progress import log_to_stderr, logger
    >>> level = logger.level
    >>> handler = log_to_stderr(logging.WARNING)
    >>> handler.level == logging.WARNING
    True
    >>> logger.removeHandler(handler)  # leave logging as it was
    >>> logger.setLevel(level)
    """
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(f"{_PREFIX} %(message)s"))
        logger.addHandler(handler)
    handler.setLevel(level)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return handler


def _log(line):
    if not logger.hasHandlers():
        # verbose > 0 asked for progress; with logging unconfigured, Python's last-resort
        # handler would drop INFO records, so the request would silently do nothing.
        log_to_stderr()
    elif logger.level == logging.NOTSET and logger.getEffectiveLevel() > logging.INFO:
        # Handlers exist (the application's) but the default WARNING level would hide
        # the progress that verbose asked for; an explicit level on our logger wins.
        logger.setLevel(logging.INFO)
    logger.info(line)


def _bar_class(stream):
    """tqdm's class when bars make sense on ``stream``, else None (plain lines)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    if _in_notebook():
        return tqdm
    isatty = getattr(stream, "isatty", None)
    try:
        return tqdm if isatty is not None and isatty() else None
    except ValueError:  # a closed stream
        return None


def _in_notebook():
    # tqdm.auto has already asked IPython whether a notebook frontend runs; its choice
    # shows in which tqdm class autonotebook picked.
    try:
        from tqdm import autonotebook
    except ImportError:  # pragma: no cover
        return False
    return autonotebook.tqdm.__module__.startswith("tqdm.notebook")


def make_progress(stage, *, verbose=1, total=None, stream=None):
    """A progress reporter for one phase of ``fit``.

    Parameters
    ----------
    stage : {"teachers", "student"}
    verbose : int, default=1
        1: bars, or plain lines at a modest rate (every teacher job; the first, every
        10th and the last epoch). 2 or more: plain lines also for every epoch.
    total : int, optional
        Epochs at most (``max_epochs``), for the student's bar.
    stream : file-like, optional
        Where bars go (default ``sys.stderr``, tqdm's default); its ``isatty`` decides
        between bars and plain lines. Plain lines are INFO records of the
        ``"skdistill"`` logger (stderr unless logging is configured otherwise).

    Returns
    -------
    TeacherProgress or StudentProgress

    Examples
    --------
    >>> import io, logging
    >>> from skdistill._progress import logger, make_progress
    >>> records = []
    >>> class Keep(logging.Handler):
    ...     def emit(self, record):
    ...         records.append(record.getMessage())
    >>> logger.addHandler(Keep())
    >>> level = logger.level
    >>> logger.setLevel(logging.INFO)  # whatever logging setup ran before this example
    >>> progress = make_progress("student", total=3, stream=io.StringIO())
    >>> progress({"epoch": 1, "train_loss": 0.5, "valid_loss": 0.4, "valid_accuracy": 0.9})
    >>> progress.close()
    >>> for message in records:
    ...     print(message)
    student epoch 1/3 | train_loss 0.5000 | valid_loss 0.4000 | valid_accuracy 0.9000
    student stopped after epoch 1; best valid_loss 0.4000 at epoch 1
    >>> logger.handlers.pop() and None
    >>> logger.setLevel(level)
    """
    stream = sys.stderr if stream is None else stream
    bar = _bar_class(stream)
    if stage == "teachers":
        return TeacherProgress(bar, stream, verbose)
    if stage == "student":
        return StudentProgress(bar, stream, verbose, total)
    raise ValueError(f"stage must be 'teachers' or 'student'; got {stage!r}.")


def train_with_progress(train, *args, verbose=0, **kwargs):
    """``train(*args, progress=..., **kwargs)`` reported as ``verbose`` asks.

    The student's reporter (:func:`make_progress`, its bar as long as
    ``kwargs["max_epochs"]``; none when ``verbose`` is 0) is passed to ``train`` as
    ``progress``, and closed with the reason that ``train``'s result gives
    (``result["stopped_by"]``). Returns ``train``'s result.

    Examples
    --------
    >>> from skdistill._progress import train_with_progress
    >>> def train(rows, max_epochs, progress=None):
    ...     return {"n_rows": rows, "stopped_by": "max_epochs"}
    >>> train_with_progress(train, 10, verbose=0, max_epochs=5)["n_rows"]
    10
    """
    progress = (make_progress("student", verbose=int(verbose),
                              total=kwargs.get("max_epochs")) if verbose else None)
    result = train(*args, progress=progress, **kwargs)
    if progress is not None:
        progress.close(result["stopped_by"])
    return result


def _job_names(labels):
    """Readable job names from ``(teacher name, kind)`` pairs, folds numbered per teacher."""
    n_folds = {}
    for name, kind in labels:
        if kind == "fold":
            n_folds[name] = n_folds.get(name, 0) + 1
    seen = {}
    names = []
    for name, kind in labels:
        if kind == "fold":
            seen[name] = seen.get(name, 0) + 1
            names.append(f"{name} fold {seen[name]}/{n_folds[name]}")
        elif kind == "refit":
            names.append(f"{name} refit on all rows")
        elif kind == "oob":
            names.append(f"{name} (out-of-bag)")
        else:
            names.append(f"{name}")
    return names


class TeacherProgress:
    """Reports each finished teacher job (one teacher on one fold, or a refit)."""

    def __init__(self, bar_class, stream, verbose):
        self.bar_class = bar_class
        self.stream = stream
        self.verbose = verbose

    def track(self, results, labels):
        """Yield ``results`` unchanged, reporting each one as it arrives.

        Parameters
        ----------
        results : iterable
            The jobs' results in the order of ``labels`` (joblib's ``return_as="generator"``
            yields each one as soon as it and all before it are done).
        labels : list of (str, str)
            ``(teacher name, kind)`` per job, kind being ``"fold"``, ``"refit"``,
            ``"oob"`` or ``"full"``.
        """
        names = _job_names(labels)
        total = len(names)
        start = time.perf_counter()
        bar = None
        if self.bar_class is not None:
            bar = self.bar_class(total=total, desc="teachers", unit="fit", file=self.stream,
                                 leave=True, dynamic_ncols=True)
        try:
            for done, (name, result) in enumerate(zip(names, results), start=1):
                if bar is not None:
                    bar.set_postfix_str(name, refresh=False)
                    bar.update(1)
                else:
                    _log(f"teachers {done}/{total}: {name} done "
                           f"({time.perf_counter() - start:.1f}s)")
                yield result
        finally:
            if bar is not None:
                bar.close()


#: What ended the student's training, in words, for each value of
#: ``fit_info_["stopped_by"]``: the closing progress line and ``skdistill info`` say
#: "ended by" these.
STOPPED_BY_WORDS = {"max_epochs": "max_epochs", "early_stopping": "early stopping",
                    "time_limit": "the time limit"}


class StudentProgress:
    """Called after every student epoch with its history record."""

    def __init__(self, bar_class, stream, verbose, total):
        self.bar_class = bar_class
        self.stream = stream
        self.verbose = verbose
        self.total = total
        self._bar = None
        self._last = None
        self._last_printed = None
        self._best = None

    def __call__(self, record):
        self._last = record
        metric = record.get("valid_loss", record.get("train_loss"))
        if metric is not None and (self._best is None or metric < self._best[1]):
            self._best = (record["epoch"], metric)
        if self.bar_class is not None:
            if self._bar is None:
                self._bar = self.bar_class(total=self.total, desc="student", unit="epoch",
                                           file=self.stream, leave=True, dynamic_ncols=True)
            self._bar.set_postfix(_postfix(record), refresh=False)
            self._bar.update(1)
            return
        epoch = record["epoch"]
        if self.verbose >= 2 or epoch == 1 or epoch % 10 == 0 or epoch == self.total:
            self._print(record)

    def _print(self, record):
        self._last_printed = record["epoch"]
        of = f"/{self.total}" if self.total else ""
        parts = [f"student epoch {record['epoch']}{of}"]
        parts += [f"{k} {v:.4f}" for k, v in _postfix(record).items()]
        _log(" | ".join(parts))

    def close(self, stopped_by=None):
        """Finish the bar, or print the last epoch, why training ended and where the best
        epoch was.

        Parameters
        ----------
        stopped_by : {"max_epochs", "early_stopping", "time_limit"} or None
            What ended training (``fit_info_["stopped_by"]``); None leaves it unsaid. The
            estimator closes the reporter with it once ``train_student`` returns; without
            that, garbage collection closes it.
        """
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._last is not None and self._last_printed != self._last["epoch"]:
            self._print(self._last)
        if self._last is not None and self.bar_class is None and self._best is not None:
            monitored = "valid_loss" if "valid_loss" in self._last else "train_loss"
            why = (f" (ended by {STOPPED_BY_WORDS[stopped_by]})"
                   if stopped_by in STOPPED_BY_WORDS else "")
            _log(f"student stopped after epoch {self._last['epoch']}{why}; best {monitored} "
                 f"{self._best[1]:.4f} at epoch {self._best[0]}")
        self._last = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - never raise from a finalizer
            pass


def _postfix(record):
    keys = ("train_loss", "valid_loss", "valid_accuracy")
    return {k: record[k] for k in keys if k in record}
