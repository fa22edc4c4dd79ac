"""A small CNN trained with DP-SGD (Opacus) at each hospital: a site task (issue-11 contract).

``dp_cnn(data, weights, task, round_index, config) -> dict`` is self-contained (imports and
helpers inside the body): the admin reads exactly what runs.

- ``data``: ``images`` / ``labels`` (train split) and ``val_images`` / ``val_labels``.
- ``task``: ``"init"`` (seeded weights, touches no data), ``"train"`` or ``"evaluate"``.
- ``config``: the experiment's settings (``model``, ``optimizer``, ``lr``, ``batch_size``,
  ``local_epochs``, ``seed``) and, for DP, ``config["privacy"]``: the plan the researcher's
  accountant computed for THIS site (noise multiplier, clipping norm, sample rate, steps per
  round, delta, epsilon per round). The site's ledger checks and charges that plan.

With a plan, training uses per-sample gradient clipping and Gaussian noise through Opacus'
``PrivacyEngine`` with Poisson sampling; the model uses group norm (batch norm mixes samples
and is not DP-compatible), and Opacus' ``ModuleValidator`` refuses any model that is not.
Without a plan it trains the same model without noise (the non-DP baseline).
Returns ``{"weights": {name: float32 array}, "n_samples": int, "metrics": {name: float}}``;
a DP training round adds ``metrics["epsilon"]`` (cumulative after this round, from Opacus'
accountant) and ``metrics["dp_steps"]``.
"""

from typing import Any


def dp_cnn(
    data: "dict[str, Any]",
    weights: "dict[str, Any]",
    task: str,
    round_index: int,
    config: "dict[str, Any]",
) -> "dict[str, Any]":
    # Quoted annotations: the site executes this source without the module's imports.
    import warnings
    from typing import Any

    import numpy as np
    import torch
    from torch import nn

    model_cfg = config["model"]
    size = int(model_cfg["image_size"])
    plan = config.get("privacy")

    def build_model() -> nn.Module:
        layers: list[nn.Module] = []
        channels_in, width = 1, int(model_cfg["width"])
        for block in range(int(model_cfg["depth"])):
            channels_out = width * 2**block
            layers.append(nn.Conv2d(channels_in, channels_out, 3, padding=1))
            if model_cfg.get("norm", "group") == "batch":
                layers.append(nn.BatchNorm2d(channels_out))  # not DP-compatible: refused below
            else:
                layers.append(nn.GroupNorm(min(int(model_cfg.get("groups", 4)), channels_out),
                                           channels_out))  # fmt: skip
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            channels_in = channels_out
        pooling = nn.AdaptiveMaxPool2d(1) if model_cfg.get("pool", "max") == "max" else None
        layers += [pooling or nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        layers.append(nn.Linear(channels_in, int(model_cfg["num_classes"])))
        return nn.Sequential(*layers)

    def as_inputs(array: Any) -> torch.Tensor:
        values = np.asarray(array)
        if values.ndim != 4 or values.shape[1] != 1 or values.shape[2:] != (size, size):
            raise ValueError(f"images must be N x 1 x {size} x {size}, got {values.shape}")
        return torch.from_numpy((values.astype(np.float32) - 127.5) / 64.0)

    def as_targets(array: Any) -> torch.Tensor:
        return torch.from_numpy(np.asarray(array).astype(np.int64))

    def auc_score(scores: Any, truth: Any) -> float:
        # Binary AUC from ranks (Mann-Whitney U); ties get their mean rank.
        positive = truth == 1
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_pos == 0 or n_neg == 0 or scores.shape[1] != 2:
            return float("nan")
        score = scores[:, 1]
        ranks = np.empty(len(score), dtype=np.float64)
        ranks[np.argsort(score, kind="mergesort")] = np.arange(1, len(score) + 1)
        for value in np.unique(score):
            ranks[score == value] = ranks[score == value].mean()
        return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

    torch.manual_seed(int(config["seed"]))
    net = build_model()
    if weights:
        state = {name: torch.from_numpy(np.array(value)) for name, value in weights.items()}
        net.load_state_dict(state, strict=True)

    def reply(n_samples: int, metrics: "dict[str, float]", with_weights: bool) -> "dict[str, Any]":
        out: dict[str, Any] = {
            "n_samples": int(n_samples),
            "metrics": {key: float(value) for key, value in metrics.items()},
        }
        if with_weights:
            out["weights"] = {name: tensor.detach().cpu().numpy().astype(np.float32)
                              for name, tensor in net.state_dict().items()}  # fmt: skip
        return out

    if task == "init":
        return reply(0, {}, with_weights=True)

    if task == "evaluate":
        inputs, targets = as_inputs(data["val_images"]), as_targets(data["val_labels"])
        net.eval()
        with torch.no_grad():
            logits = net(inputs)
            loss = float(nn.functional.cross_entropy(logits, targets))
            probs = torch.softmax(logits, dim=1).numpy().astype(np.float64)
        truth = targets.numpy()
        accuracy = float((probs.argmax(axis=1) == truth).mean()) if len(truth) else float("nan")
        return reply(len(truth), {"loss": loss, "accuracy": accuracy,
                                  "auc": auc_score(probs, truth)}, with_weights=False)  # fmt: skip

    if task != "train":
        raise ValueError(f"task must be 'train', 'evaluate' or 'init', got {task!r}")

    inputs, targets = as_inputs(data["images"]), as_targets(data["labels"])
    if len(targets) == 0:
        raise ValueError("the training split is empty")
    lr = float(config["lr"])
    if config["optimizer"] == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(int(config["seed"]) * 1000 + int(round_index))
    batch_size = int(plan["batch_size"]) if plan else int(config["batch_size"])
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(inputs, targets),
        batch_size=min(batch_size, len(targets)), shuffle=True, generator=generator,
    )  # fmt: skip
    model: nn.Module = net
    engine: Any = None
    if plan:
        from opacus import PrivacyEngine
        from opacus.validators import ModuleValidator

        problems = ModuleValidator.validate(net, strict=False)
        if problems:
            raise ValueError(
                "the model is not DP-compatible: "
                + "; ".join(str(p) for p in problems)[:400]
                + " (use group norm: model.norm = 'group')"
            )
        with warnings.catch_warnings():  # secure RNG off: seeded noise, stated in the docs
            warnings.simplefilter("ignore")
            engine = PrivacyEngine(accountant=str(plan["accountant"]))
            model, optimizer, loader = engine.make_private(
                module=net, optimizer=optimizer, data_loader=loader,
                noise_multiplier=float(plan["noise_multiplier"]),
                max_grad_norm=float(plan["max_grad_norm"]), poisson_sampling=True,
            )  # fmt: skip
    model.train()
    total_loss, steps = 0.0, 0
    with warnings.catch_warnings():  # Opacus' hooks warn about inputs without grad: harmless
        warnings.simplefilter("ignore", UserWarning)
        for _epoch in range(int(config["local_epochs"])):
            for batch_inputs, batch_targets in loader:
                optimizer.zero_grad()
                if len(batch_targets) == 0:  # an empty Poisson batch still takes a noisy step
                    loss = (model(inputs[:1]) * 0.0).sum()
                else:
                    loss = nn.functional.cross_entropy(model(batch_inputs), batch_targets)
                loss.backward()
                optimizer.step()
                total_loss, steps = total_loss + float(loss.detach()), steps + 1
    metrics = {"train_loss": total_loss / max(steps, 1)}
    if engine is not None:
        from opacus.accountants import create_accountant

        noise, rate, taken = engine.accountant.history[-1]
        so_far = create_accountant(mechanism=str(plan["accountant"]))
        so_far.history = [(noise, rate, taken * int(round_index))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics["epsilon"] = float(so_far.get_epsilon(delta=float(plan["delta"])))
        metrics["dp_steps"] = float(sum(step for _, _, step in engine.accountant.history))
    return reply(len(targets), metrics, with_weights=True)
