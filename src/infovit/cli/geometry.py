"""``infovit geometry``: information geometry (α per token and layer, token correlations) of a ViT.

Heavy imports (torch, timm, matplotlib) happen inside :func:`run` so ``infovit --help`` stays fast.
"""

from __future__ import annotations

import argparse

from infovit.cli import flags

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  # random-init ViT-Tiny on the synthetic task (24 px: 6x6 patches of 4 px)
  infovit geometry --model vit_tiny_patch16_224 --img-size 24 --patch-size 4 \\
      --data synthetic --out geo/random

  # the paper's setting: pretrained ViT-B/8 on CIFAR-10 (local copy), train and test splits
  infovit geometry --model vit_base_patch8_224 --weights vit_b8.safetensors \\
      --data cifar10:/data/cifar10 --splits train,val --pixels --max-memory 16GiB --out geo/b8

  # a spectrum of infovit runs (one figure compares all of them), then re-plot without computing
  infovit geometry --model runs/beta0.01 runs/beta1 runs/beta10 --data imagenet100:/data/in100 \\
      --num-images 5000 --out geo/spectrum
  infovit geometry --from-tables geo/spectrum/beta0.01 geo/spectrum/beta10 --out geo/replot

outputs (in --out, or --out/<run> for several models): index.json, geometry_<split>.npz,
alpha_<split>.csv, layers_<split>.csv and figures/*.png drawn from those tables.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "geometry",
        help="α per token and layer, α trajectories, clusters and token correlations of a ViT",
        description=(
            "Measure the information geometry of any timm ViT (Joseph et al.): the covariance "
            "eigenspectrum decay α of every token at every layer (α-ReQ fit), α trajectories "
            "clustered over the patch grid, and the Pearson correlation between the flattened "
            "(N x D) representations of every pair of tokens. One streamed float64 pass; memory "
            "does not grow with the number of images."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("model")
    src.add_argument(
        "--model",
        nargs="+",
        metavar="NAME|RUN",
        help="timm model name(s) or infovit run directories; several draw a comparison figure"
        " (--weights/--pretrained/--img-size/--patch-size apply to the timm names)",
    )
    src.add_argument("--weights", metavar="FILE", help="state dict (.safetensors/.pth/.bin)")
    src.add_argument(
        "--pretrained", action="store_true", help="download timm's weights (needs internet)"
    )
    src.add_argument(
        "--img-size", type=int, metavar="PX", help="image size of a timm model (default: its own)"
    )
    src.add_argument("--patch-size", type=int, metavar="PX", help="patch size of a timm model")
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="SPEC",
        help="synthetic | cifar10:ROOT | stl10:ROOT | ... (default for runs: the first run's data)",
    )
    data.add_argument("--splits", default="val", help="comma list of train,val (default: val)")
    data.add_argument(
        "--num-images", type=int, metavar="N", help="random subset per split (default: all)"
    )
    data.add_argument(
        "--batch-size", type=int, default=128, metavar="B", help="default 128 (the paper's)"
    )
    data.add_argument("--workers", type=int, default=2, help="data loader workers")
    what = p.add_argument_group("measurement")
    what.add_argument("--layers", default="all", help="'all' or e.g. '0,4-8,12' (0 = embedding)")
    what.add_argument(
        "--pixels",
        action="store_true",
        help="add each patch's raw pixels as layer -1 (the paper's 'data set' point)",
    )
    what.add_argument("--no-correlation", action="store_true", help="skip token correlations")
    what.add_argument(
        "--fit-range",
        default="11:100",
        metavar="FIRST:LAST",
        help="1-based ranks fitted (default 11:100, as α-ReQ)",
    )
    what.add_argument(
        "--unweighted", action="store_true", help="plain least squares (default: weights 1/rank)"
    )
    what.add_argument(
        "--clusters", type=int, default=3, metavar="K", help="k-means clusters (0: none)"
    )
    what.add_argument(
        "--embedding",
        choices=("auto", "umap", "pca", "none"),
        default="auto",
        help="2-D embedding before k-means; auto = UMAP if umap-learn is installed, else PCA",
    )
    what.add_argument(
        "--seed", type=flags.seed, default=0, help="subset, clustering and random init"
    )
    run_g = p.add_argument_group("resources and output")
    run_g.add_argument(
        "--max-memory",
        default="8GiB",
        metavar="SIZE",
        help="memory for accumulators and scratch (default 8GiB); less means more passes",
    )
    run_g.add_argument(
        "--precision",
        choices=("auto", "float64", "float32"),
        default="auto",
        help="products per batch: auto = float32, and float64 again for layers whose spectra "
        "float32 cannot resolve (every α as float64's, to 1e-4); float64 exact; float32 fastest",
    )
    run_g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    run_g.add_argument("--out", required=True, metavar="DIR", help="output directory")
    run_g.add_argument("--no-plots", action="store_true", help="write the tables only")
    run_g.add_argument(
        "--from-tables",
        nargs="+",
        metavar="DIR",
        help="only draw figures from existing outputs (several: the comparison figure too)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse the options and call :func:`infovit.geometry.run` (or :func:`~.replot`)."""
    from infovit.errors import InfovitError
    from infovit.geometry import GeometryOptions, replot
    from infovit.geometry import run as measure

    if args.from_tables:
        if args.model or args.data:
            raise InfovitError("--from-tables only draws figures; drop --model and --data")
        print(f"figures written to {replot(args.from_tables, args.out)}")
        return 0
    fields = GeometryOptions.__dataclass_fields__
    options = GeometryOptions(
        **{k: getattr(args, k) for k in fields if hasattr(args, k)},
        plots=not args.no_plots,
    )
    measure(args.model or [], args.data, args.out, options)
    print(f"tables and figures written to {args.out}")
    return 0
