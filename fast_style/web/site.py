"""``export.py format=web``: one folder that any static host serves, with nothing uploaded anywhere.

The networks are the standalone ONNX exports of :mod:`fast_style.inference.standalone` (reflection padding and
instance norm as PyTorch computes them), with their weights stored in 16 bits and cast back to float32 inside the
graph: half the download, float32 arithmetic. The runtime is the npm package ``onnxruntime-web`` at the version the
page is tested with, copied into the site so that it works offline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch.nn.functional as F

from fast_style.errors import FastStyleError
from fast_style.inference.standalone import export_onnx
from fast_style.io.images import read_tensor, save_image
from fast_style.io.outputs import check_output, safe_name
from fast_style.model_card import load_model
from fast_style.styles import find_style_image

ORT_WEB_VERSION = "1.30.0"
# What the page loads: the bundle with the WebGPU and WebAssembly backends, and its WebAssembly module.
RUNTIME_FILES = ("ort.all.min.js", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm")
PAGE = Path(__file__).resolve().parent / "page"
MARKER = "site.json"  # an earlier site holds it: export may replace that folder with overwrite=true
THUMBNAIL = 160


def find_runtime(setting: str, folder: str | Path) -> Path:
    """``dist/`` of the onnxruntime-web package at ``folder`` (e.g. ``node_modules/onnxruntime-web``), at the
    pinned version."""
    root = Path(str(folder)).expanduser()
    package = root / "package.json"
    how = f"npm install onnxruntime-web@{ORT_WEB_VERSION}, then give {setting}=<node_modules/onnxruntime-web>"
    if not package.is_file():
        raise FastStyleError(f"{setting}={folder}: no onnxruntime-web package there; {how}")
    version = json.loads(package.read_text()).get("version")
    if version != ORT_WEB_VERSION:
        raise FastStyleError(f"{setting}={folder}: onnxruntime-web {version}, but the page is tested with "
                             f"{ORT_WEB_VERSION}; {how}")
    missing = [name for name in RUNTIME_FILES if not (root / "dist" / name).is_file()]
    if missing:
        raise FastStyleError(f"{setting}={folder}: the package lacks {', '.join(missing)}; {how}")
    return root / "dist"


def halve_weights(model: Any) -> Any:
    """The ONNX ``model`` with every float32 initializer stored as float16 and cast back to float32 where the
    graph reads it: half the bytes to download, the same float32 computation."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    casts = []
    for index, tensor in enumerate(list(graph.initializer)):
        if tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) == 0:
            continue
        name, array = tensor.name, numpy_helper.to_array(tensor)
        half = numpy_helper.from_array(array.astype(np.float16), f"{name}__fp16")
        graph.initializer[index].CopyFrom(half)
        casts.append(helper.make_node("Cast", [half.name], [name], to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def thumbnail(path: Path, target: Path) -> None:
    """The painting's long side shrunk to :data:`THUMBNAIL` px, as a JPEG."""
    image = read_tensor(path)[None]
    scale = THUMBNAIL / max(image.shape[-2:])
    size = [max(1, round(side * scale)) for side in image.shape[-2:]]
    save_image(F.interpolate(image, size=size, mode="bilinear", antialias=True)[0].clamp(0, 1), target, quality=90)


def export_site(models: Sequence[str | Path], output: str | Path, runtime: str | Path, overwrite: bool = False,
                assets_dir: str | Path | None = None, max_side: int = 1024) -> Path:
    """Write the site for ``models`` (exported ``.pt`` or training ``.ckpt``, single- or multi-style) to the folder
    ``output``: written under a temporary name and renamed, so a failure leaves nothing; an existing folder is
    replaced only if it is an earlier site and ``overwrite``."""
    if not models:
        raise FastStyleError("models=[]: give at least one model file, e.g. 'models=[starry_night.pt]'")
    target = check_output("output", output, folder=True, inputs=list(models))
    if target.exists() and any(target.iterdir()):
        if not (target / MARKER).is_file():
            raise FastStyleError(f"output={output} is a folder that is not an earlier site (no {MARKER}); give an "
                                 "empty or new folder")
        if not overwrite:
            raise FastStyleError(f"output={output} holds an earlier site; give overwrite=true to replace it")
    import onnx

    dist = find_runtime("web.runtime", runtime)
    loaded = [(Path(path), *load_model(path, "models")) for path in models]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        staging = Path(tmp) / "site"
        shutil.copytree(PAGE, staging)
        shutil.copytree(dist, staging / "ort", ignore=lambda folder, names: [n for n in names if n not in RUNTIME_FILES])
        networks = []
        for path, net, card in loaded:
            name = safe_name(path.stem)
            file = staging / "models" / f"{name}.onnx"
            file.parent.mkdir(exist_ok=True)
            try:
                export_onnx(net, card, file)
            except Exception as err:  # noqa: BLE001 - the exporter raises many types
                raise FastStyleError(f"models: {path} cannot be exported to ONNX ({str(err).splitlines()[0]})") from err
            onnx.save(halve_weights(onnx.load(str(file))), str(file))
            styles = []
            for style in card.styles:
                picture = f"styles/{safe_name(name + '-' + style.name)}.jpg"
                (staging / "styles").mkdir(exist_ok=True)
                thumbnail(find_style_image(style, assets_dir, None), staging / picture)
                styles.append({"name": style.name, "thumbnail": picture})
            networks.append({"file": f"models/{name}.onnx", "styles": styles, "bytes": file.stat().st_size})
        (staging / MARKER).write_text(json.dumps({"networks": networks, "max_side": max_side,
                                                  "runtime": f"onnxruntime-web {ORT_WEB_VERSION}"}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target
