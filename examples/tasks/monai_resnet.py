"""Example site task: MONAI's ResNet (``monai.networks.nets.ResNet``, 2-D, basic blocks)
for chest X-ray classification: a standard imaging architecture from a well-kept library.

Contract: README, "Bring your own model". Imports are inside the body. ``monai`` must be in
every site's code environment (``datasite env allow --data-dir DIR monai``; it is not in the
default list) and installed there (pinned: monai==1.6.1, numpy + torch only).

Experiment file::

    task = "tasks/monai_resnet.py:monai_resnet_task"
    [task_config]
    num_classes = 2
    image_size = 32
    layers = [1, 1, 1, 1]          # basic blocks per stage (ResNet-18 is [2, 2, 2, 2])
    channels = [8, 16, 32, 64]     # block_inplanes (ResNet-18: [64, 128, 256, 512])

BatchNorm's running statistics travel with the weights and are averaged; its
``num_batches_tracked`` counters travel as float32 and come back as whole numbers
(researcher.aggregate). Metrics: loss, accuracy, auc (binary) on the validation split.
"""

from typing import Any


def monai_resnet_task(
    data: "dict[str, Any]",
    weights: "dict[str, Any]",
    task: str,
    round_index: int,
    config: "dict[str, Any]",
) -> "dict[str, Any]":
    import numpy as np
    import torch
    from monai.networks.nets import ResNet
    from torch import nn

    size = int(config.get("image_size", 32))
    n_classes = int(config.get("num_classes", 2))
    torch.manual_seed(int(config["seed"]))
    model = ResNet(
        block="basic",
        layers=list(config.get("layers", [1, 1, 1, 1])),
        block_inplanes=list(config.get("channels", [8, 16, 32, 64])),
        spatial_dims=2,
        n_input_channels=1,
        conv1_t_size=3,
        num_classes=n_classes,
    )
    if weights:
        state = model.state_dict()
        model.load_state_dict(
            {k: torch.from_numpy(np.array(v)).to(state[k].dtype) for k, v in weights.items()}
        )

    def tensors(images: "Any", labels: "Any") -> "tuple[torch.Tensor, torch.Tensor]":
        x = np.asarray(images, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (1, size, size):
            raise ValueError(f"images must be N x 1 x {size} x {size}, got {x.shape}")
        y = torch.from_numpy(np.asarray(labels).astype(np.int64))
        return torch.from_numpy((x - 127.5) / 64.0), y

    def auc(score: "Any", positive: "Any") -> float:
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        greater = (score[positive][:, None] > score[~positive][None, :]).sum()
        ties = (score[positive][:, None] == score[~positive][None, :]).sum()
        return float((greater + 0.5 * ties) / (n_pos * n_neg))

    def as_weights() -> "dict[str, Any]":
        return {k: v.detach().cpu().numpy().astype(np.float32)
                for k, v in model.state_dict().items()}  # fmt: skip

    if task == "init":
        return {"weights": as_weights(), "n_samples": 0, "metrics": {}}
    if task == "evaluate":
        x, y = tensors(data["val_images"], data["val_labels"])
        model.eval()
        with torch.no_grad():
            logits = model(x)
        probs = torch.softmax(logits, dim=1).numpy()
        truth = y.numpy()
        metrics = {"loss": float(nn.functional.cross_entropy(logits, y)),
                   "accuracy": float((probs.argmax(axis=1) == truth).mean()),
                   "auc": auc(probs[:, -1], truth == n_classes - 1)}  # fmt: skip
        return {"n_samples": len(truth), "metrics": metrics}
    if task != "train":
        raise ValueError(f"task must be 'init', 'train' or 'evaluate', got {task!r}")

    x, y = tensors(data["images"], data["labels"])
    optimizer = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    gen = torch.Generator().manual_seed(int(config["seed"]) * 1000 + int(round_index))
    batch, total, steps = int(config["batch_size"]), 0.0, 0
    model.train()
    for _epoch in range(int(config["local_epochs"])):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
    return {"weights": as_weights(), "n_samples": len(y),
            "metrics": {"train_loss": total / max(steps, 1)}}  # fmt: skip
