"""Example site task: multi-class chest X-ray classification (normal / pneumonia / effusion)
with a class-weighted loss and simple augmentation.

Contract: README, "Bring your own model". Self-contained: imports and helpers are inside the
body (the site runs this function alone; the admin reads all of it).

Experiment file::

    task = "tasks/multiclass.py:multiclass_task"
    [task_config]
    num_classes = 3     # labels 0..K-1 (datasite synth --multiclass writes 3 classes)
    image_size = 32     # the sites' ingest --size
    width = 16          # channels of the first conv block (doubles per block, 3 blocks)
    augment = true      # random flips, shifts of up to 1/8 of the side, brightness jitter

The loss weights each class by the inverse of its share of the site's training labels (a
site with few effusions still learns them); it is computed at the site and never leaves it.
Metrics: loss, accuracy, balanced_accuracy (mean recall over classes present).
"""

from typing import Any


def multiclass_task(
    data: "dict[str, Any]",
    weights: "dict[str, Any]",
    task: str,
    round_index: int,
    config: "dict[str, Any]",
) -> "dict[str, Any]":
    import numpy as np
    import torch
    from torch import nn

    n_classes = int(config.get("num_classes", 3))
    size = int(config.get("image_size", 32))
    width = int(config.get("width", 16))
    torch.manual_seed(int(config["seed"]))

    def block(c_in: int, c_out: int) -> "list[nn.Module]":
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(4, c_out), nn.ReLU(),
                nn.MaxPool2d(2)]  # fmt: skip

    model = nn.Sequential(
        *block(1, width), *block(width, 2 * width), *block(2 * width, 4 * width),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4 * width, n_classes),
    )  # fmt: skip
    if weights:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})

    def tensors(images: "Any", labels: "Any") -> "tuple[torch.Tensor, torch.Tensor]":
        x = np.asarray(images, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (1, size, size):
            raise ValueError(f"images must be N x 1 x {size} x {size}, got {x.shape}")
        return torch.from_numpy((x - 127.5) / 64.0), torch.from_numpy(
            np.asarray(labels).astype(np.int64)
        )

    def augment(x: "torch.Tensor", gen: "torch.Generator") -> "torch.Tensor":
        flip = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        limit = max(size // 8, 1)
        dy, dx = (int(v) for v in torch.randint(-limit, limit + 1, (2,), generator=gen))
        x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
        return x * (1.0 + 0.1 * (torch.rand(len(x), 1, 1, 1, generator=gen) - 0.5))

    def as_weights() -> "dict[str, Any]":
        return {
            k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()
        }

    if task == "init":
        return {"weights": as_weights(), "n_samples": 0, "metrics": {}}

    if task == "evaluate":
        x, y = tensors(data["val_images"], data["val_labels"])
        model.eval()
        with torch.no_grad():
            logits = model(x)
        predicted = logits.argmax(dim=1)
        recalls = [float((predicted[y == k] == k).float().mean()) for k in range(n_classes)
                   if bool((y == k).any())]  # fmt: skip
        metrics = {"loss": float(nn.functional.cross_entropy(logits, y)),
                   "accuracy": float((predicted == y).float().mean()),
                   "balanced_accuracy": float(np.mean(recalls))}  # fmt: skip
        return {"n_samples": len(y), "metrics": metrics}

    if task != "train":
        raise ValueError(f"task must be 'init', 'train' or 'evaluate', got {task!r}")
    x, y = tensors(data["images"], data["labels"])
    counts = torch.bincount(y, minlength=n_classes).float()
    class_weight = torch.where(counts > 0, counts.sum() / (n_classes * counts.clamp(min=1)), 0.0)
    loss_fn = nn.CrossEntropyLoss(weight=class_weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(config["lr"]))
    mu = float(config.get("mu", 0.0)) if config.get("algorithm") == "fedprox" else 0.0
    start = [p.detach().clone() for p in model.parameters()]
    gen = torch.Generator().manual_seed(int(config["seed"]) * 1000 + int(round_index))
    batch, total, steps = int(config["batch_size"]), 0.0, 0
    model.train()
    for _epoch in range(int(config["local_epochs"])):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            inputs = augment(x[idx], gen) if config.get("augment", True) else x[idx]
            loss = loss_fn(model(inputs), y[idx])
            if mu > 0:
                loss = loss + mu / 2 * sum(
                    ((p - s) ** 2).sum() for p, s in zip(model.parameters(), start, strict=True)
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
    return {"weights": as_weights(), "n_samples": len(y),
            "metrics": {"train_loss": total / max(steps, 1)}}  # fmt: skip
