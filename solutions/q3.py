"""Q3: the CIFAR-10 hypermodel and its Hyperband tuner."""
import keras
import keras_tuner

BEST_HPS = {
    "conv_layers": 2,
    "filters": 16,
    "dense_layers": 3,
    "units": 192,
    "lr": 0.001,
    "optimizer": "adam",
}

_OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}


def _block_dropout_rate(block_index):
    """Dropout after conv block i: 0.2, 0.3, 0.4, rising with depth."""
    return 0.2 + 0.1 * block_index


def build_model(hp):
    """Register the search space on hp and return the compiled model."""
    conv_layers = hp.Int("conv_layers", min_value=1, max_value=3, step=1)
    filters = hp.Int("filters", min_value=8, max_value=32, step=8)
    dense_layers = hp.Int("dense_layers", min_value=1, max_value=4, step=1)
    units = hp.Int("units", min_value=128, max_value=256, step=64)
    lr = hp.Choice("lr", values=[0.0001, 0.0005, 0.001], default=0.0001)
    optimizer = hp.Choice("optimizer", values=["adam", "sgd"])

    layers = []
    for block in range(conv_layers):
        width = filters * 2 ** (block + 1)
        layers.append(keras.layers.Conv2D(width, 3, padding="same", activation="relu"))
        layers.append(keras.layers.Conv2D(width, 3, padding="same", activation="relu"))
        layers.append(keras.layers.MaxPooling2D(pool_size=2, strides=2))
        layers.append(keras.layers.Dropout(_block_dropout_rate(block)))
    layers.append(keras.layers.Flatten())
    for _ in range(dense_layers):
        layers.append(keras.layers.Dense(units, activation="relu"))
        layers.append(keras.layers.Dropout(0.5))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    # One build from the whole list: Sequential.add after an Input rebuilds the model each time.
    model = keras.Sequential([keras.Input(shape=(32, 32, 3)), *layers])
    model.compile(
        optimizer=_OPTIMIZERS[optimizer](learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def make_tuner(directory, project_name="q3", max_epochs=10, seed=None):
    """Hyperband over build_model, maximising validation accuracy."""
    return keras_tuner.Hyperband(
        build_model,
        objective="val_accuracy",
        max_epochs=max_epochs,
        factor=3,
        seed=seed,
        directory=directory,
        project_name=project_name,
    )
