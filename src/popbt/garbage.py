"""Garbage collection of a population's checkpoint folder: the files no row points at.

Workers delete the checkpoints they make obsolete as they go; what they cannot delete is
what a killed process leaves: a temporary file (`.tmp-<name>`) of a write cut short, or a
complete checkpoint file written but never reported (the worker died between the two).
`collect` sweeps both.

Contract (the rule of `popbt gc` and `Population.gc`):
- Only the population's own folder is swept, `<checkpoint root>/<population name>/` (where
  both trainers write: `m<id>/` per member, `population/` for the vectorized trainer's
  snapshots), and in it only files named as popbt names them (`CHECKPOINT_NAME`). Other
  files, symlinks, and anything outside the root are never touched.
- A file any checkpoint row of the storage points at, or a genome in the population's rows
  starts from (`popbt.genomes`), is never removed, whatever its age.
- Any other such file (a temporary file, or an unreferenced checkpoint) is removed only once
  its modification time is at least `min_age_s` old; a file whose age the filesystem does
  not tell is kept. The age protects what live workers are doing: a local write in progress
  keeps its temporary file fresh, and a checkpoint is reported (gets its row) moments after
  it is written, or, while the database is unreachable, within the storage's retry window
  (`retry_s`, 120 s by default). The default, `DEFAULT_MIN_AGE_S` (one hour), is well past
  both; pass 0 only when no worker of the population runs.
- The files are listed before the rows are read, so a checkpoint reported during the sweep
  is seen as referenced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from popbt.checkpoints import CHECKPOINT_NAME, CheckpointStore, StoredFile
from popbt.genomes import base_paths

if TYPE_CHECKING:
    from popbt.storage import Storage
    from popbt.storage.base import PopulationRow

DEFAULT_MIN_AGE_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class Collected:
    """What a garbage collection removed (or, with `dry_run`, would remove) and kept.

    Examples:
        >>> Collected(root="/r", folder="toy", temporary=("toy/m00000/.tmp-x",),
        ...           unreferenced=(), removed_bytes=10, referenced=8, young=1,
        ...           unknown_age=0, dry_run=False).removed
        ('toy/m00000/.tmp-x',)
    """

    root: str
    folder: str
    temporary: tuple[str, ...]
    unreferenced: tuple[str, ...]
    removed_bytes: int
    referenced: int
    young: int
    unknown_age: int
    dry_run: bool

    @property
    def removed(self) -> tuple[str, ...]:
        """Every path removed (relative to the root), temporary files first."""
        return self.temporary + self.unreferenced


def collect(storage: Storage, pop: PopulationRow, *, now: float,
            min_age_s: float = DEFAULT_MIN_AGE_S, dry_run: bool = False) -> Collected:
    """Remove the population's temporary and unreferenced checkpoint files older than
    `min_age_s` at `now` (see the module contract); with `dry_run`, only say which.

    Raises:
        ConfigError: `min_age_s` is not a number >= 0; the root is a URL fsspec cannot open.
        CheckpointError: the filesystem of a URL root failed (credentials hidden).
    """
    from popbt.errors import ConfigError

    if isinstance(min_age_s, bool) or not isinstance(min_age_s, int | float) or \
            not min_age_s >= 0:
        raise ConfigError(f"min_age_s={min_age_s!r}: must be a number of seconds >= 0")
    store = CheckpointStore(pop.checkpoint_root)
    listed = store.files(pop.name)  # before the rows: see the module contract
    keep = storage.checkpoint_paths() | base_paths(storage.genomes(pop))
    temporary: list[StoredFile] = []
    unreferenced: list[StoredFile] = []
    young = unknown = 0
    for f in listed:
        match = CHECKPOINT_NAME.fullmatch(f.rel.rsplit("/", 1)[-1])
        if match is None or f.rel in keep:
            continue
        if f.mtime is None:
            unknown += 1
        elif now - f.mtime < min_age_s:
            young += 1
        else:
            (temporary if match["tmp"] else unreferenced).append(f)
    doomed = temporary + unreferenced
    if not dry_run:
        store.delete(f.rel for f in doomed)
    return Collected(root=store.shown_root(), folder=pop.name,
                     temporary=tuple(f.rel for f in temporary),
                     unreferenced=tuple(f.rel for f in unreferenced),
                     removed_bytes=sum(f.size for f in doomed),
                     referenced=sum(f.rel in keep for f in listed), young=young,
                     unknown_age=unknown, dry_run=dry_run)
