"""``infovit import-reference``: a checkpoint of the paper's public code → an infovit run folder.

The paper's models (trained with GitHub ``murphyka/vit_ib``) can then be evaluated and analysed
with every other infovit command, with exactly the logits and per-head KL of that code.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["register", "run"]

EXAMPLES = """\
examples:
  infovit import-reference out_IN100/model_best.pth --out runs/ref_beta1 --beta 1 \\
      --data imagenet100:/data/imagenet
  infovit import-reference ckpt.pth --out runs/ref --num-classes 100   # check the head size
  infovit eval runs/ref_beta1 --passes 10                               # then use it as any run
  infovit import-reference out_noib/model_best.pth --out runs/ref_vit --variant vit
  infovit import-reference out_noattn/model_best.pth --out runs/ref_no_attn --variant no_attn

The architecture (depth, width, heads, patch size, image size, bottleneck rank and hidden
width, classes) is read from the tensor shapes. β is not stored in the checkpoint: pass it with
--beta (in the reference code's convention, β × mean KL) or it is recorded as unknown (null),
and --objective (kl, or sqrt_kl for the code's --sqrt-kl) or that is recorded as unknown.
The endpoints have no bottleneck and the same keys, so say which one a file holds: --variant vit
(a --no-ib-attn run) or --variant no_attn (blocks wrapped in BlockWithoutAttn).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-reference",
        help="import a checkpoint of the paper's public code (murphyka/vit_ib) as a run folder",
        description=(
            "Convert a state dict saved by the IB-ViT paper's public training code into an "
            "infovit run folder (weights checked to fit exactly)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CKPT", help=".pth file written by torch.save")
    p.add_argument("--out", required=True, metavar="RUN", help="new run folder to write")
    p.add_argument(
        "--data",
        help="data spec the model was trained on (default: imagenet100:/path/to/imagenet)",
    )
    p.add_argument(
        "--img-size",
        type=int,
        help="input size (default: from the position embeddings; others resample them)",
    )
    p.add_argument("--num-classes", type=int, help="expected classes (checked against the head)")
    p.add_argument("--beta", type=float, help="β the model was trained with (mean convention)")
    p.add_argument(
        "--objective",
        choices=("kl", "sqrt_kl"),
        help="the KL term it was trained with: kl, or sqrt_kl for the code's --sqrt-kl "
        "(default: recorded as unknown)",
    )
    p.add_argument(
        "--variant",
        choices=("auto", "ib", "vit", "no_attn"),
        default="auto",
        help="auto: ib (the file has bottlenecks); for the endpoints say which: vit (a "
        "--no-ib-attn run) or no_attn (BlockWithoutAttn blocks)",
    )
    p.add_argument(
        "--num-heads",
        type=int,
        help="attention heads of an endpoint (default: width / 64, as timm's ViTs)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infovit.errors import InfovitError
    from infovit.model.reference_import import import_reference
    from infovit.training.config import BetaConfig, Config, DataConfig
    from infovit.training.run import RunFolder

    if args.beta is not None and (not math.isfinite(args.beta) or args.beta < 0):
        raise InfovitError(f"--beta must be a finite number ≥ 0, got {args.beta}")
    if args.img_size is not None and args.img_size < 1:
        raise InfovitError(f"--img-size must be positive, got {args.img_size}")
    if args.num_heads is not None and args.num_heads < 1:
        raise InfovitError(f"--num-heads must be at least 1, got {args.num_heads}")
    imported = import_reference(
        args.checkpoint,
        img_size=args.img_size,
        num_classes=args.num_classes,
        variant=args.variant,
        num_heads=args.num_heads,
    )
    data_spec = args.data or "imagenet100:/path/to/imagenet"
    config = Config(
        model=imported.config,
        data=DataConfig(spec=data_spec),
        beta=BetaConfig(value=args.beta, convention="mean", objective=args.objective),
    )
    config.validate()
    meta = {
        "imported_from": str(args.checkpoint),
        "imported_format": "murphyka/vit_ib ViTWithHeadIB state dict",
        "beta_known": args.beta is not None,
        "objective_known": args.objective is not None,
        "data_spec_known": args.data is not None,
        **imported.meta(),
    }
    run_folder = RunFolder.create(args.out, config, extra_meta=meta)
    info = {"epoch": -1, "step": 0, "best_top1": None, "imported": True}
    run_folder.save_checkpoint("best", imported.model, info)
    run_folder.save_checkpoint("last", imported.model, info)
    a = imported.arch
    print(f"imported  {args.checkpoint} → {args.out}")
    print(
        f"model     depth {a.depth}, width {a.embed_dim}, {a.num_heads} heads, patch "
        f"{a.patch_size}, {imported.config.img_size} px, {a.num_classes} classes"
    )
    if a.variant == "ib":
        print(f"channel   rank {a.rank}, hidden {a.hidden} per head")
    else:
        print(f"variant   {a.variant} (an endpoint of the spectrum: no bottleneck)")
    beta = (
        f"{args.beta} (mean convention)" if args.beta is not None else "unknown (recorded as null)"
    )
    print(f"β         {beta}")
    print(f"objective {args.objective or 'unknown (recorded as null)'}")
    for note in imported.notes:
        print(f"note      {note}")
    if args.data is None:
        print("data      not given: pass --data to 'infovit eval' and 'infovit analyze'")
    return 0
