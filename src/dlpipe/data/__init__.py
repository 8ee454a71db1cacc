"""Data stage: datasets loaded through tensorflow-datasets, split and fed through tf.data."""
