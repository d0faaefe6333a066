"""Train the recommender from its config, locally or as a Ray job (`--tune` runs the config's search):

python -m training.recs --config training/configs/recs.yaml -w WORKSPACE
ray job submit --working-dir . -- python -m training.recs --config training/configs/recs.yaml -w WORKSPACE
"""

from training import main

if __name__ == "__main__":
    raise SystemExit(main("recs"))
