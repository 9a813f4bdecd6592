"""End-of-training summaries of a run, for notebooks that compare runs by their final and best epochs."""
import numpy as np

from utils.models import evaluate


def run_summary(run, data):
    """What a {"model", "history"} run (from `utils.train_seeds`) reached, as a dict of floats.

    train_loss, train_accuracy, held_out_loss, held_out_accuracy: after training, in inference mode
    (one pass, dropout off), on data.x_train and data.x_test. best_epoch (counted from 1),
    best_held_out_loss and accuracy_at_best: the epoch with the lowest held-out loss in the history.
    fit_loss_at_best, fit_train_loss, fit_train_accuracy: the training loss and accuracy that `fit`
    reported (averaged over the epoch, dropout on) at that epoch and at the last one.
    """
    history, model = run["history"], run["model"]
    train_loss, train_accuracy = evaluate(model, data.x_train, data.y_train)
    held_out_loss, held_out_accuracy = evaluate(model, data.x_test, data.y_test)
    best = int(np.argmin(history["test_loss"]))
    return dict(train_loss=train_loss, train_accuracy=train_accuracy,
                held_out_loss=held_out_loss, held_out_accuracy=held_out_accuracy,
                best_epoch=best + 1, best_held_out_loss=history["test_loss"][best],
                accuracy_at_best=history["test_accuracy"][best], fit_loss_at_best=history["loss"][best],
                fit_train_loss=history["loss"][-1], fit_train_accuracy=history["accuracy"][-1])
