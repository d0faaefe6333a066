"""The registered recommendation model `recs`: item-side state only, so the registry never holds a customer.

What a version holds (`recs.npz` + `recs.json` beside the card): the catalogue (product ids, categories),
recent popularity (the cold-start and no-consent list), the "because you bought X" item similarity, the
method's item state (EASE's item x item weights, or ALS's item factors) and the calibration of
`nextProductPropensity`. What a list also needs, each customer's history, lives in the lake keyed by
customer_id (`c360.recs.store`, `recs/customers/`), where erasure removes it by key; `attach` joins the two at
scoring time. ALS needs no stored user factors: a customer's factors are solved from their history against
the version's item factors (`recalculate_user`), exact for whichever version is champion.

Methods: `ease` (closed form, the strongest single method on Online Retail) up to `ease_max_items` items,
its weights being a dense items x items matrix; `als` beyond (memory linear in the catalogue); `auto` (the
default) picks between them by catalogue size. `hybrid` (`c360.recs.hybrid_state`) re-ranks every
generator's candidates with LightGBM, its ranker learnt on the `ranker_days` before the fit's end; it falls
back to EASE when fewer than 50 customers bought there. It is not the default because it does not win on a
small shop: on the last four weeks of Online Retail NDCG@10 0.126 against EASE's 0.097, on the
5,000-customer demo 0.043 against 0.057. `c360 tune recs` can choose (`method: {grid: [ease, hybrid]}`).

`nextProductPropensity`: the probability that the customer buys their top recommended product within the
next `holdout_days`, read off an isotonic fit of the held-out hit rate against the top item's score (the
fit before the window, applied to the refitted model's scores: calibrated-ish, not exact). A customer who
gets the popular list gets the popular list's held-out hit rate.

`fit(train, features, valid)` follows the `Model` interface with transaction lines as frames: `train` the
purchases before the held-out window, `valid` those in it (metrics: precision, recall, NDCG, MAP at `n` and
coverage, with the popularity baseline's beside them as `popularity_*`). `predict(frame)` takes
`customer_id` and `items` (the product ids they bought) and gives the top product and its propensity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from c360.models.base import Model, ModelError, register
from c360.recs.base import Recommender
from c360.recs.compiled_trees import CompiledBooster
from c360.recs.data import Interactions, build_interactions, histories, reindex_items, relevant_items
from c360.recs.rules import Rules

STATE_FILE = "recs.npz"
META_FILE = "recs.json"
METHODS = ("auto", "ease", "als", "hybrid")
REASON_NEIGHBOURS = 50


@register
class RecsModel(Model):
    name = "recs"
    score = "nextProductPropensity"
    defaults: ClassVar[dict[str, Any]] = {
        "method": "auto",
        "ease_max_items": 5000,
        "customer_neighbours": False,
        "neighbours_max_customers": 20000,
        "lambda_": 250.0,
        "factors": 64,
        "regularization": 0.05,
        "alpha": 10.0,
        "iterations": 15,
        "seed": 0,
        "popularity_days": 90.0,
        "n": 10,
        "exclude_bought": True,
        "candidates": 50,
        "ranker_days": 28.0,
    }

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        if self.params["method"] not in METHODS:
            raise ModelError(f"recs: method {self.params['method']!r} is not one of {', '.join(METHODS)}")
        self.rules = Rules()
        self.consent_channel_ = "web"
        """The channel of the personalization consent a personal list needs (the config's, kept with it)."""

    # ------------------------------------------------------------------ fit

    def resolve_method(self, items: int) -> str:
        method = str(self.params["method"])
        if method == "auto":
            return "ease" if items <= int(self.params["ease_max_items"]) else "als"
        return method

    def fit_interactions(self, data: Interactions, *, use_ray: bool = False) -> Recommender:
        """Fit the method on `data`, keep its item-side state; returns the fitted recommender (which holds
        `data`: use it, then drop it)."""
        if data.shape[0] == 0 or data.shape[1] == 0:
            raise ModelError("recs: no purchases with a product to learn from")

        self.method_ = self.resolve_method(data.shape[1])
        rec = self._recommender(self.method_, on_ray=use_ray)
        rec.fit(data)
        self._keep_state(rec, data)
        return rec

    def _keep_state(self, rec: Recommender, data: Interactions) -> None:
        from c360.recs.baselines import recent_popularity
        from c360.recs.neighbours import cosine_neighbours

        self.items_ = np.asarray(data.items, dtype=object)
        self.category_ = np.asarray(data.category, dtype=object)
        self.popularity_ = recent_popularity(data, float(self.params["popularity_days"]))
        self.reason_sim_ = cosine_neighbours(data.orders, top_k=REASON_NEIGHBOURS)
        self.hybrid_state_: dict[str, np.ndarray] = {}
        self._rankers = None
        if self.method_ == "hybrid":
            from c360.recs.hybrid_state import state_of

            self.hybrid_state_ = state_of(rec)  # type: ignore[arg-type]
            self.item_state_ = np.zeros(0, dtype=np.float32)
        else:
            self.item_state_ = rec.weights_ if self.method_ == "ease" else np.asarray(rec.model_.item_factors)
        self.as_of_ = None if data.as_of is None else data.as_of.isoformat()

    def als_params(self) -> Any:
        from c360.recs.ray_fit import AlsParams

        return AlsParams(
            factors=int(self.params["factors"]),
            regularization=float(self.params["regularization"]),
            iterations=int(self.params["iterations"]),
            random_state=int(self.params["seed"]),
        )

    def _recommender(self, method: str, on_ray: bool = False) -> Recommender:
        if method == "ease":
            from c360.recs.ease import Ease

            return Ease(lambda_=float(self.params["lambda_"]), rules=self.rules)
        from c360.recs.als import Als

        p = self.als_params()
        return Als(
            p.factors,
            p.regularization,
            float(self.params["alpha"]),
            p.iterations,
            p.random_state,
            rules=self.rules,
            on_ray=on_ray,
        )

    def fit(
        self,
        train: pd.DataFrame,
        features: Sequence[str] = (),
        valid: pd.DataFrame | None = None,
        *,
        products: pd.DataFrame | None = None,
        use_ray: bool = False,
    ) -> dict[str, float]:
        """Fit on the purchase lines `train`; with `valid` (the lines after them), measure the lists on it
        and calibrate the propensity (module docstring)."""
        if self.params["method"] == "hybrid":
            rec, data = self._fit_hybrid(train, products)
        else:
            data = build_interactions(train, products=products)
            rec = self.fit_interactions(data, use_ray=use_ray)
        self.calibration_: dict[str, Any] = getattr(self, "calibration_", {})
        if valid is None or valid.empty:
            return dict(self.card.metrics)
        end = valid["ts"].max() + pd.Timedelta(seconds=1)
        metrics, self.calibration_ = self.evaluate(rec, valid, data.as_of, end)
        self.card.metrics = metrics
        return metrics

    def _fit_hybrid(
        self, train: pd.DataFrame, products: pd.DataFrame | None
    ) -> tuple[Recommender, Interactions]:
        """The hybrid (c360.recs.hybrid_state); EASE when its ranker's window teaches nothing, said on the
        card (`extra.fallback`)."""
        from lightgbm.basic import LightGBMError

        from c360.recs.base import RecsError
        from c360.recs.hybrid_state import fit_hybrid

        try:
            rec = fit_hybrid(self, train, products)
        except (RecsError, LightGBMError, ValueError) as exc:
            self.card.extra = {
                **self.card.extra,
                "fallback": f"ease: the hybrid's ranker did not train ({exc})",
            }
            self.params["method"] = self.card.params["method"] = "ease"
            data = build_interactions(train, products=products)
            return self.fit_interactions(data), data
        self.method_ = "hybrid"
        self._keep_state(rec, rec.data_)
        return rec, rec.data_

    def evaluate(
        self, rec: Recommender, lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """Held-out metrics of `rec` and of popularity on [start, end), and the propensity calibration."""
        from sklearn.isotonic import IsotonicRegression

        from c360.recs.baselines import Popularity
        from c360.recs.metrics import evaluate_model

        data: Interactions = rec.data_
        n, new = int(self.params["n"]), bool(self.params["exclude_bought"])
        relevant = relevant_items(data, lines, start, end, new_only=new)
        popular = Popularity(window_days=float(self.params["popularity_days"]), rules=self.rules).fit(data)
        metrics = {k: float(v) for k, v in evaluate_model(rec, relevant, n, exclude_bought=new).items()}
        base = evaluate_model(popular, relevant, n, exclude_bought=new)
        metrics.update({f"popularity_{k}": float(v) for k, v in base.items()})
        metrics["customers_evaluated"] = float(len(relevant))
        # calibration over every customer of the fit, buyers in the window or not: bought the top item?
        bought = relevant_items(data, lines, start, end, new_only=False)
        rows = np.arange(data.shape[0])
        top, scores = rec.top_items(rows, 1, exclude_bought=new)
        has = top[:, 0] >= 0
        hit = np.array([int(t) in bought.get(int(r), ()) for r, t in zip(rows, top[:, 0], strict=True)])
        calibration: dict[str, Any] = {"x": [], "y": [], "popular_rate": 0.0}
        if has.sum() >= 2:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(scores[has, 0], hit[has].astype(float))
            calibration["x"] = [float(v) for v in iso.X_thresholds_]
            calibration["y"] = [float(v) for v in iso.y_thresholds_]
        ptop, _ = popular.top_items(rows, 1, exclude_bought=False)
        phit = [int(t) in bought.get(int(r), ()) for r, t in zip(rows, ptop[:, 0], strict=True) if t >= 0]
        calibration["popular_rate"] = float(np.mean(phit)) if phit else 0.0
        metrics["top1_hit_rate"] = float(hit[has].mean()) if has.any() else 0.0
        return metrics, calibration

    # ------------------------------------------------------------------ serve

    def _check(self) -> None:
        if not hasattr(self, "items_"):
            raise ModelError("recs: the model is not fitted")

    def item_index(self) -> dict[str, int]:
        """product_id -> column (built once per loaded version)."""
        if getattr(self, "_item_index", None) is None:
            self._check()
            self._item_index = {p: i for i, p in enumerate(self.items_.tolist())}
        return self._item_index

    def rankers(self) -> list[CompiledBooster]:
        """The hybrid's rankers from the model texts the version keeps, built once per fitted or loaded
        version and shared by every `attach`: an incremental update attaches the version for each customer,
        and compiling one (`c360.recs.compiled_trees`) takes seconds."""
        if getattr(self, "_rankers", None) is None:
            texts = np.atleast_1d(self.hybrid_state_["hybrid_ranker"])
            self._rankers = [CompiledBooster.from_string(str(t)) for t in texts]
        return self._rankers

    def attach(self, customers: Interactions) -> Recommender:
        """The method's recommender over `customers` (histories from the lake, any item axis): the version's
        item state, the customers' rows. ALS customers get factors solved from their history."""
        self._check()
        data = reindex_items(customers, self.items_, self.category_)
        if self.method_ == "hybrid":
            from c360.recs.hybrid_state import attach_hybrid

            return attach_hybrid(self, self.hybrid_state_, data)
        rec = self._recommender(self.method_)
        self._attach_common(rec, data)
        if self.method_ == "ease":
            rec.weights_ = self.item_state_
        else:
            rec.model_ = self.als_for(data, self.item_state_)
        return rec

    def als_for(self, data: Interactions, item_factors: np.ndarray) -> Any:
        """implicit's ALS with the version's item factors and `data`'s customers' factors solved from their
        histories (`recalculate_user`)."""
        from threadpoolctl import threadpool_limits

        from c360.recs.als import confidence
        from c360.recs.ray_fit import new_als

        with threadpool_limits(limits=1, user_api="blas"):  # as in the fit (c360.recs.als)
            model = new_als(self.als_params())
            model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
            conf = confidence(data.weights, float(self.params["alpha"]))
            model.user_factors = model.recalculate_user(np.arange(data.shape[0]), conf)
        return model

    def popular(self, customers: Interactions) -> Recommender:
        """The popularity list over the same catalogue (non-personalised: for customers without consent)."""
        from c360.recs.baselines import Popularity

        self._check()
        rec = Popularity(window_days=float(self.params["popularity_days"]), rules=self.rules)
        self._attach_common(rec, reindex_items(customers, self.items_, self.category_))
        rec.counts_, rec.segment_counts_ = self.popularity_, {}
        return rec

    def _attach_common(self, rec: Recommender, data: Interactions) -> None:
        rec.data_ = data
        rec.popularity_ = self.popularity_
        rec._reason_sim = self.reason_sim_

    def propensity(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probability of buying the top item, from its raw score (NaN when uncalibrated)."""
        x, y = self.calibration_.get("x") or [], self.calibration_.get("y") or []
        if not x:
            return np.full(len(scores), np.nan)
        return np.interp(np.asarray(scores, dtype=float), x, y)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row (`customer_id`, `items`: product ids bought): the top product and its propensity."""
        if "items" not in frame.columns:
            raise ModelError("recs: predict needs an `items` column (the product ids each customer bought)")
        lines = pd.DataFrame(
            [(str(c), f"h{k}", pd.Timestamp(0, tz="UTC"), str(p), 1, "purchase")
             for k, (c, items) in enumerate(zip(frame["customer_id"], frame["items"], strict=True))
             for p in (items if items is not None else [])],
            columns=["customer_id", "order_id", "ts", "product_id", "quantity", "kind"],
        )  # fmt: skip
        ids = [str(c) for c in frame["customer_id"]]
        history = histories(lines, ids)
        rec = self.attach(history)
        top, scores = rec.top_items(
            history.rows_of(ids), 1, exclude_bought=bool(self.params["exclude_bought"])
        )
        known = top[:, 0] >= 0
        product = np.where(known, self.items_[np.maximum(top[:, 0], 0)], None)
        personal = np.diff(history.weights.indptr)[history.rows_of(ids)] > 0
        return pd.DataFrame(
            {
                "next_product_propensity": self.top_propensity(scores[:, 0], known, personal),
                "product_id": product,
            },
            index=frame.index,
        )

    def top_propensity(self, scores: np.ndarray, known: np.ndarray, personal: np.ndarray) -> np.ndarray:
        """nextProductPropensity per customer from their top item's score: the calibrated curve for a
        personal list, the popular list's held-out hit rate for the others, NaN without a list."""
        popular = float(self.calibration_.get("popular_rate", np.nan))
        out = np.where(personal, self.propensity(np.where(known, scores, 0.0)), popular)
        return np.where(known, out, np.nan)

    # ------------------------------------------------------------------ save / load

    def _save(self, folder: Path) -> None:
        self._check()
        sim = self.reason_sim_.tocsr()
        np.savez(
            folder / STATE_FILE,
            items=self.items_.astype(str),
            category=np.array(["" if c is None else str(c) for c in self.category_]),
            has_category=np.array([c is not None for c in self.category_]),
            popularity=self.popularity_,
            sim_data=sim.data,
            sim_indices=sim.indices,
            sim_indptr=sim.indptr,
            item_state=self.item_state_,
            **self.hybrid_state_,
        )
        rules = {
            "consumables": sorted(self.rules.consumables),
            "inactive": sorted(self.rules.inactive),
            "max_per_category": self.rules.max_per_category,
        }
        meta = {
            "method": self.method_,
            "as_of": self.as_of_,
            "calibration": self.calibration_,
            "rules": rules,
        }
        meta["consent_channel"] = self.consent_channel_
        (folder / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        self.card.extra = {**self.card.extra, "method": self.method_, "items": len(self.items_)}

    def _load(self, folder: Path) -> None:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        with np.load(folder / STATE_FILE, allow_pickle=False) as z:
            self.items_ = z["items"].astype(object)
            self.category_ = np.where(z["has_category"], z["category"].astype(object), None)
            self.popularity_ = z["popularity"]
            n = len(self.items_)
            self.reason_sim_ = sp.csr_matrix((z["sim_data"], z["sim_indices"], z["sim_indptr"]), shape=(n, n))
            self.item_state_ = z["item_state"]
            self.hybrid_state_ = {k: z[k] for k in z.files if k.startswith("hybrid_")}
        self._rankers = None
        self.method_ = meta["method"]
        self.as_of_ = meta.get("as_of")
        self.calibration_ = meta.get("calibration") or {}
        self.rules = Rules(**(meta.get("rules") or {}))
        self.consent_channel_ = meta.get("consent_channel", "web")
