"""A Hugging Face dataset saved as parquet, read as samples: a few rows at a time.

The layout is the one `datasets` writes (`Dataset.to_parquet`, the Hub's parquet exports):
an ``Image`` feature is a struct of ``bytes`` and ``path``, a ``Sequence(Image)`` a list of
such structs, and the prompt a string column. ``--samples`` takes one ``.parquet`` file or
a folder of shards (``data/train-00000-of-00004.parquet``...), read in name order.

Rows are read lazily, a batch of :data:`READ_BATCH_ROWS` at a time and one row group at a
time, so a 10 GB shard never sits in memory: a sample holds its own row's bytes until it
has run. A row group that cannot be decoded becomes one error row naming it, and the run
goes on with the next. Each sample's id is ``FILE:ROW``, the row's index in its file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image

from vlmtop.core.errors import SampleError, VlmtopError
from vlmtop.core.limits import MAX_IMAGES
from vlmtop.core.samples import Loader, Sample, decode_image, failing_loader

PARQUET_SUFFIX = ".parquet"
# the prompt column when --prompt-column is not given: the first of these the dataset has
PROMPT_COLUMNS = ("question", "prompt", "text", "query", "instruction")
READ_BATCH_ROWS = 16  # rows decoded at once: a sample's bytes, not a shard's
INSTALL_HINT = "reading a parquet dataset needs pyarrow: pip install 'vlmtop[parquet]'"


@dataclass(frozen=True)
class DatasetLayout:
    """Which columns of the dataset make a sample."""

    image_column: str | None  # None: no image column, every row is a text-only prompt
    images_are_a_list: bool  # Sequence(Image): several images per row
    prompt_column: str | None  # None: every row takes the --prompt


def parquet_files(spec: str | Path) -> list[Path]:
    """The parquet files of ``spec`` (a file, or every ``*.parquet`` under a folder), in name order."""
    root = Path(spec)
    if root.is_dir():
        return sorted(path for path in root.rglob(f"*{PARQUET_SUFFIX}") if path.is_file())
    return [root]


def is_dataset(spec: str | Path) -> bool:
    """Whether ``spec`` names a parquet file, or a folder that holds some."""
    root = Path(spec)
    return root.suffix == PARQUET_SUFFIX if root.is_file() else bool(parquet_files(root))


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401 (loads pa.parquet, used below)
    except ImportError:
        raise VlmtopError(INSTALL_HINT) from None
    return pyarrow


def layout_of(files: list[Path], prompt_column: str | None = None, image_column: str | None = None) -> DatasetLayout:
    """Find the image and prompt columns from the first file's schema (metadata only);
    one line naming the columns when the choice is ambiguous or a named column is missing."""
    pa = _pyarrow()
    try:
        schema = pa.parquet.read_schema(files[0])
    except (OSError, pa.ArrowException) as exc:
        raise VlmtopError(f"cannot read {files[0]} as parquet: {exc}") from None
    images = [field.name for field in schema if _image_type(pa, field.type) is not None]
    if image_column is not None:
        if image_column not in images:
            raise VlmtopError(f"--image-column {image_column!r}: {files[0].name} has no such image column "
                              f"(image columns: {', '.join(images) or 'none'})")
        images = [image_column]
    elif len(images) > 1:
        raise VlmtopError(f"{files[0].name} has several image columns ({', '.join(images)}): pick one with --image-column")
    strings = [field.name for field in schema if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)]
    if prompt_column is not None:
        if prompt_column not in strings:
            raise VlmtopError(f"--prompt-column {prompt_column!r}: {files[0].name} has no such text column "
                              f"(text columns: {', '.join(strings) or 'none'})")
    else:
        known = [name for name in PROMPT_COLUMNS if name in strings]
        if len(known) > 1:
            raise VlmtopError(f"{files[0].name} has several prompt columns ({', '.join(known)}): "
                              f"pick one with --prompt-column")
        prompt_column = known[0] if known else None
    column = images[0] if images else None
    return DatasetLayout(column, column is not None and _image_type(pa, schema.field(column).type) == "list",
                         prompt_column)


def _image_type(pa, arrow_type) -> str | None:
    """"one" for an Image feature (a struct with a binary ``bytes``), "list" for a
    Sequence(Image), None for any other column."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "list" if _image_type(pa, arrow_type.value_type) == "one" else None
    if pa.types.is_struct(arrow_type):
        index = arrow_type.get_field_index("bytes")
        if index >= 0 and (pa.types.is_binary(arrow_type.field(index).type)
                           or pa.types.is_large_binary(arrow_type.field(index).type)):
            return "one"
    return None


def dataset_samples(spec: str | Path, default_prompt: str, prompt_column: str | None = None,
                    image_column: str | None = None) -> Iterator[Sample]:
    """The samples of a parquet dataset, in file then row order, read as they are asked for."""
    files = parquet_files(spec)
    if not files:
        raise VlmtopError(f"no parquet files under {spec}")
    layout = layout_of(files, prompt_column, image_column)
    root = Path(spec) if Path(spec).is_dir() else Path(spec).parent
    return _rows(files, root, layout, default_prompt)


def _rows(files: list[Path], root: Path, layout: DatasetLayout, default_prompt: str) -> Iterator[Sample]:
    pa = _pyarrow()
    columns = [name for name in (layout.image_column, layout.prompt_column) if name]
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            reader = pa.parquet.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            yield Sample(f"{name}:0", default_prompt, failing_loader(f"cannot read {name} as parquet: {exc}"))
            continue
        row = 0
        for group in range(reader.num_row_groups):
            try:
                for batch in reader.iter_batches(batch_size=READ_BATCH_ROWS, row_groups=[group], columns=columns):
                    for values in batch.to_pylist():
                        yield _sample(f"{name}:{row}", path.parent, values, layout, default_prompt)
                        row += 1
            except (OSError, pa.ArrowException) as exc:
                problem = f"{name}: row group {group} cannot be read: {exc}"
                yield Sample(f"{name}:{row}", default_prompt, failing_loader(problem))
                row = sum(reader.metadata.row_group(g).num_rows for g in range(group + 1))


def _sample(sample_id: str, folder: Path, values: dict, layout: DatasetLayout, default_prompt: str) -> Sample:
    prompt = values.get(layout.prompt_column) if layout.prompt_column else default_prompt
    if not isinstance(prompt, str):
        return Sample(sample_id, default_prompt, failing_loader(f"{sample_id}: its {layout.prompt_column} is empty"))
    cell = values.get(layout.image_column) if layout.image_column else None
    if layout.images_are_a_list:
        cells = list(cell or [])
    else:
        cells = [] if cell is None else [cell]
    if len(cells) > MAX_IMAGES:
        return Sample(sample_id, prompt, failing_loader(f"{sample_id}: {len(cells)} images; at most {MAX_IMAGES} per prompt"))
    return Sample(sample_id, prompt, _cells_loader(sample_id, folder, cells))


def _cells_loader(sample_id: str, folder: Path, cells: list[dict | None]) -> Loader:
    def load(count: int | None) -> list[Image.Image]:
        return [_image_of(f"{sample_id} (image {k + 1} of {len(cells)})" if len(cells) > 1 else sample_id, folder, cell)
                for k, cell in enumerate(cells)]

    return load


def _image_of(sample_id: str, folder: Path, cell: dict | None) -> Image.Image:
    """An Image feature's value: its embedded bytes, else the file its path names (as
    given, or beside the parquet file)."""
    data = (cell or {}).get("bytes")
    if data:
        return decode_image(lambda: io.BytesIO(data), sample_id)
    where = (cell or {}).get("path")
    if not where:
        raise SampleError(f"{sample_id}: an image cell with neither bytes nor a path")
    path = Path(where)
    if not path.is_absolute() and not path.exists():
        path = folder / path
    return decode_image(lambda: path, str(path))
