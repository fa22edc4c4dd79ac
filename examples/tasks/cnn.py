"""Example site task: the platform's built-in small CNN (the default experiment's task).

A site task is ONE self-contained function (the contract: README, "Bring your own model";
``researcher.task``): the admin reads exactly this source, and module globals do not exist at
the site, so every import and helper is inside the body. The same function runs locally on
mock data before submission (``researcher.taskcheck``), in the unit tests and benchmarks.

Use it with ``task = "tasks/cnn.py:cnn_task"`` (relative to the experiment file), or leave
``task`` out. Settings: the experiment's ``[model]`` table (width, depth, num_classes,
image_size, pool, norm) and the platform settings (optimizer, lr, lr_schedule, batch_size,
local_epochs, rounds, seed, algorithm, mu).

Steps (``task``, chosen by the coordinator per call, each call counts against the approval):

- ``"train"``: start from ``weights`` (or a seeded fresh model when empty), run
  ``local_epochs`` of SGD/Adam on the site's training split (``lr_schedule = "cosine"``: the
  lr of each epoch follows a cosine from ``lr`` to 0 over the run's ``rounds x local_epochs``
  epochs, counted from ``round_index``; plus the FedProx proximal term
  ``mu/2 * ||w - w_global||^2`` when ``algorithm == "fedprox"``), return the new weights.
- ``"evaluate"``: loss, accuracy and AUC of ``weights`` on the held-out validation split,
  and per-class score histograms (counts only) from which the coordinator computes the AUC
  of the pooled validation data of all sites (``fedcommon.metrics``).
- ``"init"``: the seeded initial weights; touches no data (used locally by the coordinator).

What leaves the site: a plain dict with float32 weights (init / train), the sample count
and a few scalar metrics. Never images, labels or metadata.
"""

from typing import Any


def cnn_task(
    data: "dict[str, Any]",
    weights: "dict[str, Any]",
    task: str,
    round_index: int,
    config: "dict[str, Any]",
) -> "dict[str, Any]":
    # Quoted annotations: the site executes this source without the module's imports.
    from typing import Any

    import numpy as np
    import torch
    from torch import nn

    model_cfg = config["model"]
    size = int(model_cfg["image_size"])

    def build_model() -> nn.Module:
        layers: list[nn.Module] = []
        channels_in, width = 1, int(model_cfg["width"])
        for block in range(int(model_cfg["depth"])):
            channels_out = width * 2**block
            layers.append(nn.Conv2d(channels_in, channels_out, 3, padding=1))
            if model_cfg.get("norm", "batch") == "batch":
                layers.append(nn.BatchNorm2d(channels_out))
            else:
                layers.append(nn.GroupNorm(1, channels_out))
            layers.append(nn.ReLU())
            layers.append(nn.MaxPool2d(2))
            channels_in = channels_out
        # Head: pool to a grid x grid map per channel (1 = one value per channel), then linear.
        grid = int(model_cfg.get("pool_grid", 1))
        pool_type = nn.AdaptiveMaxPool2d if model_cfg.get("pool", "max") == "max" else None
        layers += [(pool_type or nn.AdaptiveAvgPool2d)(grid), nn.Flatten()]
        layers.append(nn.Linear(channels_in * grid * grid, int(model_cfg["num_classes"])))
        return nn.Sequential(*layers)

    def as_inputs(array: Any) -> torch.Tensor:
        data = np.asarray(array)
        if data.ndim != 4 or data.shape[1] != 1 or data.shape[2:] != (size, size):
            raise ValueError(f"images must be N x 1 x {size} x {size}, got {data.shape}")
        return torch.from_numpy((data.astype(np.float32) - 127.5) / 64.0)

    def as_targets(array: Any) -> torch.Tensor:
        return torch.from_numpy(np.asarray(array).astype(np.int64))

    def auc_score(scores: Any, targets: Any) -> float:
        # One-vs-rest macro AUC from ranks (Mann-Whitney U), ties get their mean rank.
        def binary_auc(score: Any, positive: Any) -> float:
            n_pos, n_neg = int(positive.sum()), int((~positive).sum())
            if n_pos == 0 or n_neg == 0:
                return float("nan")
            order = np.argsort(score, kind="mergesort")
            ranks = np.empty(len(score), dtype=np.float64)
            ranks[order] = np.arange(1, len(score) + 1)
            for value in np.unique(score):
                tied = score == value
                ranks[tied] = ranks[tied].mean()
            u_stat = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
            return float(u_stat / (n_pos * n_neg))

        if scores.shape[1] == 2:
            return binary_auc(scores[:, 1], targets == 1)
        per_class = [binary_auc(scores[:, k], targets == k) for k in range(scores.shape[1])]
        valid = [value for value in per_class if not np.isnan(value)]
        return float(np.mean(valid)) if valid else float("nan")

    torch.manual_seed(int(config["seed"]))
    model = build_model()
    if weights:
        state = {name: torch.from_numpy(np.array(value)) for name, value in weights.items()}
        model.load_state_dict(state, strict=True)

    def reply(n_samples: int, metrics: dict[str, float], with_weights: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_samples": int(n_samples),
            "metrics": {key: float(value) for key, value in metrics.items()},
        }
        if with_weights:
            out["weights"] = {
                name: tensor.detach().cpu().numpy().astype(np.float32)
                for name, tensor in model.state_dict().items()
            }
        return out

    if task == "init":
        return reply(0, {}, with_weights=True)

    if task == "evaluate":
        inputs, targets = as_inputs(data["val_images"]), as_targets(data["val_labels"])
        model.eval()
        with torch.no_grad():
            logits = model(inputs)
            loss = float(nn.functional.cross_entropy(logits, targets))
            probs = torch.softmax(logits, dim=1).numpy().astype(np.float64)
        truth = targets.numpy()
        accuracy = float((probs.argmax(axis=1) == truth).mean()) if len(truth) else float("nan")
        metrics = {"loss": loss, "accuracy": accuracy, "auc": auc_score(probs, truth)}
        scored = reply(len(truth), metrics, with_weights=False)
        # Counts of scores per class, truth and bin (fedcommon.metrics): pooled AUC, no scores.
        bins = int(config.get("auc_bins", 100))
        binned = np.clip((probs * bins).astype(np.int64), 0, bins - 1)
        scored["score_histograms"] = np.stack(
            [
                [np.bincount(binned[truth != k, k], minlength=bins),
                 np.bincount(binned[truth == k, k], minlength=bins)]
                for k in range(probs.shape[1])
            ]
        ).astype(np.float32)  # fmt: skip
        return scored

    if task != "train":
        raise ValueError(f"task must be 'train', 'evaluate' or 'init', got {task!r}")

    inputs, targets = as_inputs(data["images"]), as_targets(data["labels"])
    if len(targets) == 0:
        raise ValueError("the training split is empty")
    global_params = [param.detach().clone() for param in model.parameters()]
    mu = float(config.get("mu", 0.0)) if config["algorithm"] == "fedprox" else 0.0
    lr = float(config["lr"])
    if config["optimizer"] == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(int(config["seed"]) * 1000 + int(round_index))
    batch_size, total_loss, steps = int(config["batch_size"]), 0.0, 0
    local_epochs = int(config["local_epochs"])
    total_epochs = max(int(config.get("rounds", 1)) * local_epochs, 1)

    def epoch_lr(epoch: int) -> float:
        # "cosine": lr falls from lr towards 0 over all rounds x local_epochs epochs of the run
        # (epoch = the run's epoch index), so the final model is not one noisy Adam step.
        if config.get("lr_schedule", "constant") != "cosine":
            return lr
        return lr * 0.5 * (1.0 + float(np.cos(np.pi * min(epoch, total_epochs - 1) / total_epochs)))

    model.train()
    for epoch in range(local_epochs):
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr((int(round_index) - 1) * local_epochs + epoch)
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(targets), batch_size):
            batch = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
            if mu > 0.0:
                proximal = sum(
                    ((param - ref) ** 2).sum()
                    for param, ref in zip(model.parameters(), global_params, strict=True)
                )
                loss = loss + mu / 2.0 * proximal
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss, steps = total_loss + float(loss.detach()), steps + 1
    return reply(len(targets), {"train_loss": total_loss / max(steps, 1)}, with_weights=True)
