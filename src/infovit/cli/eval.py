"""``infovit eval``: top-1, top-5 and nats per image of a run, over K stochastic passes."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]

EXAMPLES = """\
examples:
  infovit eval runs/ib_beta1                    # best checkpoint, the run's own data and noise
  infovit eval runs/ib_beta1 --passes 10        # mean ± std over 10 stochastic passes (paper)
  infovit eval runs/ib_beta1 --noise mean --json
  infovit eval runs/ib_beta1 --data imagenet100:/data/imagenet --checkpoint last
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a run: top-1/top-5 and KL per image (mean ± std over passes)",
        description="Evaluate a run folder's model on its validation data.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", help="run folder written by 'infovit train'")
    p.add_argument("--passes", type=int, default=10, help="stochastic passes (default 10)")
    p.add_argument("--noise", choices=("sample", "mean"), help="default: the run's eval noise")
    p.add_argument("--data", help="data spec (default: the run's)")
    p.add_argument("--checkpoint", default="auto", choices=("auto", "best", "last"))
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from infovit.data.checks import check_image_size, check_model_fits_data
    from infovit.errors import InfovitError
    from infovit.training import evaluate, load_model
    from infovit.training.device import resolve_device
    from infovit.training.run import RunFolder, validation_set

    if args.passes < 1:
        raise InfovitError(f"--passes must be at least 1, got {args.passes} (the paper: 10)")
    if args.batch_size < 1:
        raise InfovitError(f"--batch-size must be at least 1, got {args.batch_size} (e.g. 256)")
    device = resolve_device(args.device)
    model, config = load_model(args.run, tag=args.checkpoint, device=device)
    dataset = validation_set(config, args.data)
    where = f"--data {args.data}" if args.data else f"the run's data {config.data.spec}"
    recorded = (RunFolder(args.run).meta().get("data") or {}).get("classes")
    check_model_fits_data(model.num_classes, recorded, dataset, where)
    check_image_size(int(model.patch_embed.img_size[0]), dataset, where)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=0)
    noise = args.noise or config.optim.eval_noise
    result = evaluate(model, loader, passes=args.passes, noise=noise, device=device)
    if args.json:
        print(json.dumps({"run": args.run, "variant": model.variant, **result.to_dict()}, indent=2))
        return 0
    kl = (
        "n/a (no bottleneck)"
        if result.kl_per_image is None
        else (f"{result.kl_per_image:.2f} ± {result.kl_per_image_std:.2f} nats")
    )
    print(f"run       {args.run} ({model.variant}, β={config.beta.value} {config.beta.convention})")
    print(
        f"top-1     {result.top1:.2f} ± {result.top1_std:.2f} %  ({result.passes} passes, {noise})"
    )
    print(f"top-5     {result.top5:.2f} ± {result.top5_std:.2f} %")
    print(f"KL/image  {kl}")
    print(f"images    {result.n_images}")
    return 0
