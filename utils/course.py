"""The course's one registry: every notebook and lab, in the order a student studies them.

The Makefile, the tests, the benchmark, the grader, the README's tables and notebook 00's map all
ask this module which notebooks and labs exist; a file on disk that is not listed here is not part
of the pack (a test says so). Adding a notebook: write it, add its `Step` here, run
`make publish NB=notebooks/NN_name.ipynb`.

    python -m utils.course [--notebooks | --labs | --solutions | --all]   # paths, for the Makefile
"""
import argparse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Step:
    """One notebook or lab of the course. `path` is relative to the repository root."""

    path: str
    teaches: str          # one line, for the course map in notebook 00
    study_minutes: int    # suggested time for reading, running and the exercises
    details: str          # the README's description (for a lab: what the student writes)
    # A lab only: the utils modules its kernel may import when it is graded, besides utils.environment
    # (utils.setup) and utils.labkit; the grader withholds every other one, so that no course helper
    # (utils.gradient_norms, utils.value_and_derivative, ...) can answer an exercise.
    grading_utils: tuple = ()

    @property
    def is_lab(self):
        return self.path.startswith("labs/")

    @property
    def name(self):
        return Path(self.path).name

    @property
    def number(self):
        """The two-digit number that starts the file name ("01")."""
        return self.name[:2]

    @property
    def solution(self):
        """A lab's one source, its solution notebook (None for a lecture notebook)."""
        return f"labs/solutions/{self.name}" if self.is_lab else None

    @property
    def runs(self):
        """The notebook that is executed and checked: the notebook itself, or a lab's solution."""
        return self.solution or self.path


COURSE = (
    Step("notebooks/00_start_here.ipynb", "the course map, how to work with claim cells and labs, a glossary", 15,
         "the course map: the order of notebooks and labs with their run and study times, how to work with a "
         "notebook and its claim cells, and a glossary of the course's terms in English and Korean (기울기 소실, "
         "배치 정규화, …); checks that the map lists every notebook and lab of the pack"),
    Step("notebooks/01_sigmoid_vs_relu.ipynb", "why gradients vanish through sigmoid layers and not through ReLU", 60,
         "why $\\sigma' \\le \\frac14$; the chain rule through depth and the per-layer factor "
         "$\\rho = \\sqrt{n\\,\\mathrm{Var}(w)}\\cdot\\mathrm{rms}(\\phi')$, checked against measurement; "
         "gradient norm per layer for sigmoid, tanh and ReLU; a 10-layer sigmoid net stuck at chance (its forward "
         "signal collapses) while the same ReLU net learns; dead ReLU units; three statements from the source notes "
         "checked"),
    Step("notebooks/02_activations.ipynb", "nine activations, dying units, SELU's self-normalization", 60,
         "nine activations (sigmoid, tanh, ReLU, leaky ReLU, ELU, SELU, GELU, SiLU, maxout) and their derivatives "
         "checked with `GradientTape`; zero-centring isolated with a centred sigmoid; a fair comparison over three "
         "seeds; dying units revived or not (ELU vs leaky ReLU's α); SELU's self-normalization and its conditions; "
         "what each activation costs"),
    Step("labs/01_activations.ipynb", "lab: σ′, leaky ReLU, per-layer gradient norms", 45,
         "σ′, leaky ReLU, per-layer gradient norms; where 8 sigmoid layers lose the gradient",
         grading_utils=("data", "models", "plots")),
    Step("notebooks/03_initialization.ipynb", "symmetry; LeCun, Glorot and He variances; signal size through depth", 60,
         "symmetry (constant weights keep units identical); LeCun, Glorot and He variances checked against Keras's "
         "initializers, truncation included, and a misquoted He formula corrected; activation and gradient scale "
         "through 50 layers of tanh and ReLU under six initializations; the sigmoid still vanishes; the same "
         "10-layer network trained from each initialization"),
    Step("labs/02_initialization.ipynb", "lab: the Glorot and He scales, a He initializer, 20 layers deep", 45,
         "the Glorot and He scales, a He-normal Keras initializer, per-layer signal size; 20 ReLU layers under "
         "three initializations", grading_utils=("data", "models", "plots")),
    Step("notebooks/04_dropout.ipynb", "over-fitting, dropout in training and inference, Monte Carlo dropout", 60,
         "what `Dropout` computes in training and inference, and which Keras calls use which, checked numerically; "
         "under-fitting, a good fit and over-fitting on 500 digits; a dropout-rate sweep from the same weights over "
         "three seeds (held-out loss improves at 0.5, accuracy does not, 0.8 under-fits); Monte Carlo dropout as an "
         "ensemble and an uncertainty signal, compared with plain confidence; whether ReLU's zeros act \"like "
         "dropout\""),
    Step("labs/03_dropout.ipynb", "lab: inverted dropout as a function and a layer, MC dropout", 45,
         "inverted dropout as a function and as a Keras layer, Monte Carlo dropout; dropout 0 vs 0.5 on 500 digits",
         grading_utils=("data", "models")),
    Step("notebooks/05_batch_normalization.ipynb",
         "batch normalization's two modes, what it fixes and its pitfalls", 75,
         "what `BatchNormalization` computes in training and inference, moving statistics included, checked to "
         "$10^{-5}$; internal covariate shift measured; over three seeds from the same kernels: gradient flow in a "
         "10-layer sigmoid net, learning rate 1.0, too-small and too-large initial weights, placement before or "
         "after the activation, and regularization compared with dropout; two train/inference mismatches (lagging "
         "moving statistics, tiny batches)"),
    Step("labs/04_batch_normalization.ipynb", "lab: batch norm's two modes, a layer with moving statistics", 45,
         "batch norm in training and inference mode, a layer with moving statistics; 10 sigmoid layers with and "
         "without it", grading_utils=("data", "models")),
    Step("notebooks/06_optimizers.ipynb", "nine update rules, paths on hard surfaces, learning rates and schedules", 75,
         "nine update rules (SGD, momentum, Nesterov, Adagrad, Adadelta, RMSprop, Adam, Nadam, AdamW) in a few lines "
         "each, matched to `tf.keras.optimizers` step by step; paths on an ill-conditioned quadratic, Rosenbrock and "
         "a saddle, each at its best learning rate, with an animation; what momentum does to the zigzag (it "
         "shrinks by $\\sqrt\\mu$ per step; Nesterov damps it), what lets Adam settle, Adagrad's accumulator at the "
         "saddle; the exact divergence limit $2/\\lambda_\\text{max}$; four schedules checked against their "
         "formulas; all nine on real data over a six-rate grid and three seeds: where Adam is strong and where not"),
    Step("labs/05_optimizers.ipynb", "lab: momentum and Adam steps, a Keras optimizer by hand", 45,
         "momentum and Adam update rules, a Keras optimizer driven by hand; SGD vs momentum in a narrow valley"),
    Step("notebooks/07_regularization.ipynb", "L2 and L1, early stopping, augmentation, ensembles, max-norm", 60,
         "L2 and L1 penalties (exactly what Keras adds; weight norm and sparsity measured); early stopping with "
         "patience, and that Keras 3 restores the best weights even when training ends before the patience runs "
         "out; label-preserving data augmentation with preprocessing layers; ensembles, averaging vs voting, and "
         "the one ensemble gain that is guaranteed; max-norm constraints"),
    Step("notebooks/08_hyperparameter_search.ipynb", "validation sets, grid vs random search, choosing honestly", 45,
         "parameters vs hyperparameters; training, validation and test sets; grid vs random search at equal budget "
         "on a synthetic objective (2,000 repeats) and why; a learning-rate × width lattice on a real network, with "
         "10,000 repeated random searches against the grid; how optimistic a winner's validation score is; "
         "finalists retrained over seeds; the chosen model measured once on the test set"),
    Step("notebooks/09_very_deep_networks.ipynb",
         "training a very deep network: watching it train, residual blocks, clipping, schedules, AdamW", 75,
         "training health as a habit: the initial-loss check against $\\ln 10$ and a probe of per-layer activations, "
         "gradients and update-to-data ratios that tells a healthy network from a broken one; a 30-layer plain "
         "network that does not train and the same with identity shortcuts and batch normalization that does, each "
         "per-layer factor predicted by $\\rho$ and measured; `clipnorm`, `clipvalue` and `global_clipnorm` checked, "
         "and a learning rate that diverges without clipping and trains with it; a learning-rate range test and "
         "cosine decay and `ReduceLROnPlateau` vs a constant rate over three seeds; AdamW vs Adam + L2 on weights "
         "of different gradient scale; the ablation from a network that fails to one that trains"),
    Step("labs/06_deep_networks.ipynb", "lab: the update-to-data probe, a residual block, clipping by global norm", 45,
         "the update-to-data ratio of one training step, a residual block as a Keras layer, gradient clipping by "
         "global norm matched to Keras's; a plain vs a residual 20-layer network",
         grading_utils=("data", "models")),
)


def steps():
    """Every step of the course, in study order."""
    return COURSE


def notebooks():
    """The lecture notebooks, as absolute paths, in study order."""
    return [ROOT / step.path for step in COURSE if not step.is_lab]


def labs():
    """The labs' steps, in study order."""
    return [step for step in COURSE if step.is_lab]


def lab_sources():
    """Each lab's one source, its solution notebook, as absolute paths."""
    return [ROOT / step.solution for step in labs()]


def pack_notebooks():
    """Every notebook the pack executes and checks: the lecture notebooks, then the lab solutions."""
    return notebooks() + lab_sources()


def run_seconds(step):
    """How long the step's notebook takes to run alone, from the last `make benchmark`; None if unmeasured."""
    import json
    try:
        results = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return results.get("notebooks", {}).get(step.runs, {}).get("wall_s")


def step_for(path):
    """The step whose notebook, student version or solution is `path`; None when it is not in the course."""
    resolved = Path(path).resolve()
    for step in COURSE:
        if resolved in (ROOT / step.path, ROOT / step.runs):
            return step
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print the course's notebooks, for the Makefile.")
    group = parser.add_mutually_exclusive_group()
    for flag, what in (("--notebooks", "lecture notebooks"), ("--labs", "student versions of the labs"),
                       ("--solutions", "lab solutions"), ("--all", "lecture notebooks and lab solutions (default)")):
        group.add_argument(flag, dest="which", action="store_const", const=flag[2:], help=what)
    parser.add_argument("--by-cost", action="store_true",
                        help="the longest first (from the last benchmark), so that parallel workers finish together")
    args = parser.parse_args(argv)
    which = args.which or "all"
    paths = {"notebooks": notebooks(), "labs": [ROOT / step.path for step in labs()],
             "solutions": lab_sources(), "all": pack_notebooks()}[which]
    if args.by_cost:
        cost = {ROOT / step.runs: run_seconds(step) for step in COURSE}
        paths = sorted(paths, key=lambda path: -(cost.get(path) or float("inf")))
    print(" ".join(path.relative_to(ROOT).as_posix() for path in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
