"""The ground floor: settings, lake layout, partitions, the dataset contract and the source
type. Pure where it can be, and importing nothing of the platform above it."""
