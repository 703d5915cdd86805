"""Training, the bundle and `python -m worker.classify.train`, on a tiny in-test dataset (seconds, not minutes)."""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from worker.classify.bundle import MODEL_FILE, BundleError, read_bundle
from worker.classify.dataset import DatasetError, load_records
from worker.classify.features import inquiry_text, model_text
from worker.classify.model import Classifier, ModelNotFound, load_bundle, load_current
from worker.classify.train import main as train_main
from worker.classify.training import TrainSettings, fit_classifier, prepare
from worker.domain import Inquiry
from worker.mail.parse import DEFAULT_LIMITS, parse
from worker.route.taxonomy import DEFAULT_PATH, load_taxonomy

TAXONOMY = load_taxonomy()

# Four distinct requests per category, each written once in a greeting and once without.
REQUESTS: dict[str, list[str]] = {
    "product": [
        "Vision Oneのアカウントを追加する手順を教えてください。",
        "通知の設定画面で宛先を追加する方法を知りたいです。",
        "How do I connect Deep Security to Vision One as a sensor?",
        "BSPアカウントの作成方法を教えてください。",
    ],
    "troubleshooting": [
        "Endpoint Sensorが切断状態になり接続できません。",
        "コンソールに Internal error と表示されて画面が開きません。",
        "Alert notification emails stopped arriving since Monday.",
        "センサーのステータスがOfflineのまま復旧しません。",
    ],
    "detection": [
        "このファイルがなぜ検出されたのか理由を教えてください。過検知でしょうか。",
        "Why was this PowerShell command detected? We think it is a false positive.",
        "検出された不審なURLの解析をお願いします。",
        "このDetection Modelはどのような脅威を対象にしていますか。",
    ],
    "api": [
        "APIでアラート一覧を取得すると500エラーが返ります。スクリプトは正しいはずです。",
        "What can the Workbench API return? Is there a field for the endpoint name?",
        "APIのレート制限の仕様を教えてください。",
        "The isolate endpoint API returns 403 although our token has the role.",
    ],
    "policy_consulting": [
        "当社のポリシーに合わせたZTSAの構成を設計していただけますか。",
        "Which Detection Models should we enable for our environment?",
        "ZTRIの異常検知の結果が問題かどうか判断してください。",
        "当社の運用ではどのクラウドアプリを許可すべきかご提案ください。",
    ],
    "threat_intel": [
        "このランサムウェアファミリーのTTPを詳しく解説してください。",
        "Please explain MITRE ATT&CK technique T1059 in general.",
        "Threat Intelligenceレポートに記載の攻撃グループの詳細を教えてください。",
        "最近流行しているフィッシングキャンペーンの動向を教えてください。",
    ],
    "comprehensive_analysis": [
        "先月分の全エンドポイントのログをすべて解析して侵害の有無を調べてください。",
        "Please analyse all our sensor logs for last quarter and tell us what happened.",
        "Forensicsアプリで収集したデータを解析してほしいです。",
        "隔離を実施すべきかどうか、ログを見て判断してください。",
    ],
    "api_scripting": [
        "アラートをCSVに出力するPythonスクリプトを作成してください。",
        "Please fix our script, the loop over pages does not work.",
        "APIを使った自動隔離のスクリプトを書いていただけますか。",
        "Can you write a PowerShell sample that calls the search API?",
    ],
    "remote_investigation_request": [
        "御社から当社のコンソールにリモートでログインして確認してください。",
        "Please log in to our Vision One console remotely and check the settings.",
        "リモートで当社環境に入って調査をお願いできますか。",
        "Could your engineer access our console and look at the alerts directly?",
    ],
}
GREETINGS = ("いつもお世話になっております。\n", "Hello team,\n")
SIGNATURE = "\n\n--\n株式会社テスト 情報システム部 山田\n"


def write_dataset(folder: Path, requests: dict[str, list[str]] = REQUESTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, texts in requests.items():
        for n, text in enumerate(texts):
            for variant, greeting in enumerate(("", GREETINGS[n % 2])):
                rows.append(
                    {
                        "id": f"{label}-{n}-{variant}",
                        "kind": "inquiry",
                        "lang": "ja" if any(ord(c) > 0x3000 for c in text) else "en",
                        "subject": "" if variant else "お問い合わせ",
                        "body": greeting + text + (SIGNATURE if variant else ""),
                        "labels": [label],
                        "flags": [],
                        "business_id": None,
                        "source": "written",
                    }
                )
    rows.append(
        {
            "id": "auto-1", "kind": "auto_reply", "lang": "ja", "subject": "不在のお知らせ",
            "body": "ただいま休暇中のため、11月30日まで不在にしております。", "labels": [], "flags": [],
            "business_id": None,
        }
    )
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (folder / "inquiries.jsonl").write_text(lines, encoding="utf-8")
    shutil.copy(DEFAULT_PATH, folder / "taxonomy.toml")
    return folder


def scramble_training_labels(folder: Path) -> None:
    prepared = prepare(load_records(folder, TAXONOMY), TAXONOMY, TrainSettings())
    training = {r.id for r, held in zip(prepared.records, prepared.in_evaluation, strict=True) if not held}
    labels = list(REQUESTS)
    rows = [json.loads(line) for line in (folder / "inquiries.jsonl").read_text().splitlines()]
    for row in rows:
        if row["id"] in training and row["labels"]:
            row["labels"] = [labels[(labels.index(row["labels"][0]) + 1) % len(labels)]]
    (folder / "inquiries.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


SMALL = TrainSettings(folds=3, evaluation_percent=0)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    folder = write_dataset(tmp_path_factory.mktemp("data"))
    prepared = prepare(load_records(folder, TAXONOMY), TAXONOMY, SMALL)
    thresholds = np.full(len(TAXONOMY.labels), 0.5)
    return fit_classifier(prepared.texts, prepared.truth, thresholds, TAXONOMY, "test-1", SMALL)


def inquiry(subject: str, body: str) -> Inquiry:
    raw = (
        "From: Yamada <yamada@customer.example>\nTo: support@desk.example\n"
        f"Subject: {subject}\nMessage-ID: <t1@customer.example>\n"
        "Content-Type: text/plain; charset=utf-8\n\n" + body
    ).encode("utf-8")
    return parse(raw, DEFAULT_LIMITS)


def test_it_reads_the_same_text_from_a_parsed_mail_as_from_a_training_record() -> None:
    body = "いつもお世話になっております。\nＡＰＩが５００を返します。\n\n> 以前のメール\n> 引用です\n"
    mail = inquiry("Re: APIの不具合", body)

    assert inquiry_text(mail) == model_text("Re: APIの不具合", body)
    assert inquiry_text(mail).body.endswith("APIが500を返します。")
    assert inquiry_text(mail).subject == "APIの不具合"


def test_it_reads_the_subject_as_the_question_when_the_body_says_nothing_of_its_own() -> None:
    subject_only = model_text("ログを全部見て侵害されていないか確認してください", "件名の通りです。\n\n山田")
    with_body = model_text("ログについて", "先月分のログを全部見て、侵害されていないか確認していただけますか。")

    assert "侵害されていないか" in subject_only.body
    assert with_body.body == "先月分のログを全部見て、侵害されていないか確認していただけますか。"


def test_it_predicts_an_unseen_request_in_each_scope(classifier: Classifier) -> None:
    script = classifier.predict(inquiry("お願い", "お世話になっております。\nアラートをCSVに出すPythonスクリプトを作成してください。"))
    sensor = classifier.predict(inquiry("障害", "お世話になっております。\nEndpoint Sensorが接続できません。"))

    assert script.best_guess == ("api_scripting",)
    assert sensor.best_guess == ("troubleshooting",)
    assert set(script.scores) == set(TAXONOMY.labels)
    assert script.model_version == "test-1"


def test_it_names_the_sentence_behind_an_out_of_scope_label(classifier: Classifier) -> None:
    mail = inquiry(
        "二点質問",
        "いつもお世話になっております。\nEndpoint Sensorが接続できません。\n"
        "また、アラートをCSVに出力するPythonスクリプトを作成してください。\nよろしくお願いします。",
    )
    prediction = classifier.predict(mail)

    assert "api_scripting" in prediction.labels
    assert prediction.evidence["api_scripting"] == ("また、アラートをCSVに出力するPythonスクリプトを作成してください。",)
    assert set(prediction.evidence) <= set(TAXONOMY.out_of_scope_labels)


def test_it_abstains_when_nothing_clears_a_threshold(classifier: Classifier) -> None:
    strict = replace(classifier, thresholds=np.full(len(classifier.labels), 1.01))

    prediction = strict.predict(inquiry("質問", "Endpoint Sensorが接続できません。"))

    assert prediction.needs_review
    assert prediction.labels == ()
    assert prediction.best_guess == ("troubleshooting",)


def test_it_predicts_a_batch_as_it_predicts_one_by_one(classifier: Classifier) -> None:
    mails = [inquiry("q", "APIのレート制限を教えてください。"), inquiry("q", "Please explain MITRE ATT&CK T1059.")]

    assert classifier.predict_many(mails) == [classifier.predict(m) for m in mails]


def test_it_trains_the_same_model_from_the_same_data(tmp_path: Path, classifier: Classifier) -> None:
    folder = write_dataset(tmp_path / "again")
    prepared = prepare(load_records(folder, TAXONOMY), TAXONOMY, SMALL)
    again = fit_classifier(prepared.texts, prepared.truth, classifier.thresholds, TAXONOMY, "test-1", SMALL)

    assert np.array_equal(again.scorer.weights, classifier.scorer.weights)
    assert np.array_equal(again.scorer.calibration_a, classifier.scorer.calibration_a)
    assert np.array_equal(again.stacker.weights, classifier.stacker.weights)


def test_it_refuses_to_load_without_a_model_saying_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="make train"):
        load_current(tmp_path)


# --- python -m worker.classify.train ------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, str]:
    """One CLI run on the tiny dataset: (data folder, models folder, exit status, stdout)."""
    root = tmp_path_factory.mktemp("cli")
    data = write_dataset(root / "data")
    corrections = [
        {"id": "corr-1", "kind": "inquiry", "lang": "ja", "subject": "スクリプト依頼",
         "body": "Workbenchのアラートを毎朝Teamsに投稿するスクリプトを書いてください。", "labels": ["api_scripting"],
         "flags": [], "business_id": None, "source": "correction"},
        {"id": "corr-2", "kind": "inquiry", "lang": "en", "subject": "sensor down",
         "body": "Our Endpoint Sensor shows Disconnected on all servers since the update.", "labels": ["troubleshooting"],
         "flags": [], "business_id": None, "source": "correction"},
    ]
    (data / "corrections.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in corrections))
    models = root / "models"
    capture = root / "stdout.txt"
    import contextlib

    with capture.open("w") as out, contextlib.redirect_stdout(out):
        status = train_main(["--data", str(data), "--models", str(models), "--folds", "3"])
    return data, models, status, capture.read_text()


def test_it_writes_and_promotes_a_bundle_on_the_first_run(trained: tuple[Path, Path, int, str]) -> None:
    _, models, status, output = trained

    assert status == 0
    bundle = (models / "current").resolve()
    assert {p.name for p in bundle.iterdir()} >= {"model.skops", "taxonomy.toml", "metrics.json", "MODEL_CARD.md"}
    assert "Cross-validation (3-fold, grouped)" in output
    assert "wrong out-of-scope replies" in output
    assert "Promoted" in output
    metrics = json.loads((bundle / "metrics.json").read_text())
    assert metrics["data"]["sha256"] in (bundle / "MODEL_CARD.md").read_text()
    assert load_current(models).version == bundle.name


def test_it_reports_how_the_model_does_on_staff_corrections(trained: tuple[Path, Path, int, str]) -> None:
    _, models, _, output = trained
    metrics = json.loads(((models / "current").resolve() / "metrics.json").read_text())

    assert "Staff corrections (2 inquiries" in output
    assert metrics["data"]["corrections"] == 2
    assert metrics["corrections"]["count"] == 2


def test_it_round_trips_a_bundle_through_skops(trained: tuple[Path, Path, int, str]) -> None:
    _, models, _, _ = trained
    bundle = (models / "current").resolve()
    loaded = load_bundle(bundle)
    mail = inquiry("質問", "APIのレート制限の仕様を教えてください。")

    assert loaded.taxonomy.labels == TAXONOMY.labels
    assert loaded.predict(mail) == read_bundle(bundle).predict(mail)


def test_it_refuses_a_swapped_model_file(trained: tuple[Path, Path, int, str], tmp_path: Path) -> None:
    _, models, _, _ = trained
    copy = tmp_path / "bundle"
    shutil.copytree((models / "current").resolve(), copy)
    (copy / MODEL_FILE).write_bytes((copy / MODEL_FILE).read_bytes()[:-10] + b"0123456789")

    with pytest.raises(BundleError, match="altered"):
        load_bundle(copy)


def test_it_refuses_to_promote_a_worse_model_unless_forced(trained: tuple[Path, Path, int, str], tmp_path: Path) -> None:
    data, models, _, _ = trained
    current = (models / "current").resolve()
    # Same evaluation split, scrambled training labels: the new model is worse on the same mails.
    worse = write_dataset(tmp_path / "worse")
    scramble_training_labels(worse)

    assert train_main(["--data", str(worse), "--models", str(models), "--folds", "3"]) == 1
    assert (models / "current").resolve() == current
    assert train_main(["--data", str(worse), "--models", str(models), "--folds", "3", "--force"]) == 0
    assert (models / "current").resolve() != current


def test_it_stops_on_a_malformed_record_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "data")
    with (data / "inquiries.jsonl").open("a") as out:
        out.write('{"id": "broken", "kind": "inquiry"}\n')

    assert train_main(["--data", str(data), "--models", str(tmp_path / "models")]) == 2
    assert "inquiries.jsonl:" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def test_it_computes_the_same_features_fast_as_scikit_learn_does(classifier: Classifier) -> None:
    texts = [
        model_text("Re: APIの不具合", "いつもお世話になっております。\nＡＰＩが５００を返します。 API returns 500 again."),
        model_text("", "Please write a script. Please write a script."),
        model_text("件名のみ", ""),
    ]

    fast = classifier.features.fast_transform(texts)
    reference = classifier.features.transform(texts)

    assert fast.shape == reference.shape
    assert np.allclose(fast.toarray(), reference.toarray(), atol=1e-6)
    assert fast.nnz == reference.nnz


def test_it_refuses_a_model_file_holding_a_type_outside_the_trusted_list(
    trained: tuple[Path, Path, int, str], tmp_path: Path
) -> None:
    _, models, _, _ = trained
    copy = tmp_path / "bundle"
    shutil.copytree((models / "current").resolve(), copy)
    sio.dump({"labels": list(TAXONOMY.labels), "payload": collections.Counter(a=1)}, copy / MODEL_FILE)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["sha256"][MODEL_FILE] = hashlib.sha256((copy / MODEL_FILE).read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(BundleError, match="untrusted types collections.Counter"):
        load_bundle(copy)


def test_it_refuses_the_same_text_labelled_two_ways(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    rows = [json.loads(line) for line in (data / "inquiries.jsonl").read_text().splitlines()]
    rows.append(rows[0] | {"id": "copy-of-first", "labels": ["threat_intel"]})
    (data / "inquiries.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    with pytest.raises(DatasetError, match=r"inquiries.jsonl:1: same text as .*inquiries.jsonl:74 \(copy-of-first\) but labelled"):
        prepare(load_records(data, TAXONOMY), TAXONOMY, SMALL)
