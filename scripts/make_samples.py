"""Build the demo's sample inquiries in samples/ the way Japanese and English mailers send them.

Run once when samples change: `.venv/bin/python scripts/make_samples.py`. The .eml files are committed, so
the demo and the tests read exactly these bytes.
"""

from __future__ import annotations

import base64
import quopri
from email.header import Header
from email.utils import formatdate
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "samples"
TO = "support@example.test"
DATE = formatdate(1764000000, localtime=False)


def _hdr(value: str, charset: str) -> str:
    try:
        value.encode("ascii")
        return value
    except UnicodeEncodeError:
        return Header(value, charset).encode()


def build(name: str, sender: str, subject: str, body: str, style: str, extra: str = "") -> None:
    """style: iso-2022-jp (Outlook/Thunderbird JP, 7bit), shift_jis (Shift_JIS 8bit, decoded as CP932),
    utf8-b64, utf8-qp, html-only (UTF-8 QP HTML), en (us-ascii/utf-8 7bit)."""
    mid = f"<{name}@mail.customer.example>"
    if style == "iso-2022-jp":
        charset, cte, payload = "ISO-2022-JP", "7bit", body.encode("iso-2022-jp")
        subj = _hdr(subject, "iso-2022-jp")
        ctype = f'text/plain; charset="{charset}"'
    elif style == "shift_jis":
        charset, cte, payload = "Shift_JIS", "8bit", body.encode("cp932")
        # Shift_JIS mailers label the encoded-word Shift_JIS themselves (the stdlib would re-encode as JIS).
        subj = "=?Shift_JIS?B?" + base64.b64encode(subject.encode("cp932")).decode("ascii") + "?="
        ctype = f"text/plain; charset={charset}"
    elif style == "utf8-b64":
        charset, cte = "UTF-8", "base64"
        payload = base64.encodebytes(body.encode("utf-8"))
        subj = _hdr(subject, "utf-8")
        ctype = "text/plain; charset=UTF-8"
    elif style == "utf8-qp":
        charset, cte = "UTF-8", "quoted-printable"
        payload = quopri.encodestring(body.encode("utf-8"))
        subj = _hdr(subject, "utf-8")
        ctype = "text/plain; charset=UTF-8; format=flowed"
    elif style == "html-only":
        charset, cte = "UTF-8", "quoted-printable"
        html = "<html><head><style>p{margin:0}</style></head><body>" + "".join(
            f"<p>{line}</p>" if line else "<br>" for line in body.split("\n")
        ) + "</body></html>"
        payload = quopri.encodestring(html.encode("utf-8"))
        subj = _hdr(subject, "utf-8")
        ctype = "text/html; charset=UTF-8"
    else:
        cte, payload, subj = "7bit", body.encode("ascii"), subject
        ctype = "text/plain; charset=us-ascii"
    head = (
        f"Return-Path: <{sender}>\r\nFrom: {sender}\r\nTo: {TO}\r\nSubject: {subj}\r\nDate: {DATE}\r\n"
        f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n"
        f"{extra}\r\n"
    )
    raw = head.encode("ascii") + payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    (OUT / f"{name}.eml").write_bytes(raw)


def bounce() -> None:
    raw = (
        "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        f"To: {TO}\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: {DATE}\r\n"
        "Message-ID: <bounce-1@mx.customer.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.customer.example.\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n<taro.yamada@customer.example>: user unknown\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n"
        "Final-Recipient: rfc822; taro.yamada@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b1--\r\n"
    )
    (OUT / "09-bounce-multipart-report.eml").write_bytes(raw.encode("ascii"))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    build(
        "01-ja-iso2022jp-sensor-cannot-connect", "yamada.taro@customer.example",
        "Endpoint Sensorがコンソールに接続できません",
        "サポートご担当者様\n\nいつもお世話になっております。\n株式会社サンプル情報システム部の山田です。\n\n"
        "昨日からWindowsサーバー3台のEndpoint SensorがVision Oneコンソールに接続できない状態になっております。\n"
        "エンドポイントインベントリ上では「切断」と表示され、エージェント側のログには以下のエラーが出ています。\n\n"
        "  [ERROR] Connection to xdr service failed: TLS handshake timeout (code 0x80072EE2)\n\n"
        "プロキシの設定は変更しておりません。原因と対処方法をご教示いただけますでしょうか。\n\n"
        "以上、よろしくお願いいたします。\n\n--\n株式会社サンプル 情報システム部\n山田 太郎\nTEL: 03-1234-5678\n",
        "iso-2022-jp",
    )
    build(
        "02-ja-sjis-detection-and-mitre", "sato@customer.example",
        "検出されたファイルについての質問",
        "いつもお世話になっております。佐藤です。\n\n"
        "Workbenchで「Possible Credential Dumping」というアラートが上がり、社内ツールのsupport.exeが検出されました。\n"
        "弊社で開発したツールのため過検知ではないかと考えておりますが、どのような理由で検出されたのか教えていただけますでしょうか。\n\n"
        "また、別件ですが、MITRE ATT&CKフレームワークの「Credential Access」戦術に含まれるテクニックについて、"
        "一般的な解説資料をいただくことは可能でしょうか。社内勉強会で使いたいと考えております。\n\n"
        "よろしくお願いいたします。\n",
        "shift_jis",
    )
    build(
        "03-ja-utf8-base64-api-and-script", "suzuki@customer.example",
        "APIでのアラート取得について",
        "お世話になっております。鈴木です。\n\n"
        "Public API v3.0の /v3.0/workbench/alerts で過去30日分のアラートを取得しようとしていますが、"
        "スクリプト自体は問題ないにもかかわらず、nextLinkをたどると途中で400 Bad Requestが返ってきます。API側の問題でしょうか。\n\n"
        "あわせて、取得したアラートをCSVに出力するPythonスクリプトを作成していただけないでしょうか。\n\n"
        "よろしくお願いいたします。\n",
        "utf8-b64",
    )
    build(
        "04-ja-utf8-qp-notification-settings", "takahashi@customer.example",
        "通知の設定方法について",
        "いつもお世話になっております。高橋です。\n\n"
        "Workbenchで重要度が高のアラートが作成されたときに、担当者へメールで通知したいと考えています。\n"
        "Vision Oneの通知設定はどの画面から行えばよいでしょうか。手順を教えてください。\n\nよろしくお願いします。\n",
        "utf8-qp",
    )
    build(
        "05-ja-html-only-log-analysis", "ito@customer.example",
        "先月分のログ解析のお願い",
        "ご担当者様\n\nお世話になっております。伊藤です。\n\n"
        "先月、社内で不審な通信が発生していた可能性があるため、Vision Oneおよび各センサーの先月1か月分のログをすべて解析し、"
        "侵害の有無を調査していただけないでしょうか。\n\n報告書の形でご回答いただけますと幸いです。\n\nよろしくお願いいたします。\n",
        "html-only",
    )
    build(
        "06-en-remote-access-request", "j.smith@customer.example",
        "Console shows error when opening Workbench",
        "Hello Support team,\n\nSince this morning our Vision One console shows \"An unexpected error occurred (code 500)\" "
        "when we open the Workbench app. Other apps work fine.\n\nCould you please log in to our console remotely "
        "and check what is wrong? It would be faster for us.\n\nBest regards,\nJohn Smith\nIT Security, Customer Example Ltd.\n",
        "en",
    )
    build(
        "07-en-business-id-given", "nguyen@customer.example",
        "Email sensor not working",
        "Hi,\n\nOur Email Sensor for Microsoft 365 stopped receiving data two days ago. The status page says "
        "\"Connection error: token expired\" and re-authorising does not help.\n\nOur business ID is "
        "3f2a9c1e-7b4d-4e21-9a6f-0c8d5e4b1a27.\n\nPlease advise how to fix this.\n\nThanks,\nNguyen Van An\n",
        "en",
    )
    build(
        "08-ja-iso2022jp-ztsa-policy", "kobayashi@customer.example",
        "ZTSAの構成についてのご相談",
        "いつもお世話になっております。小林です。\n\n"
        "弊社では来期からZero Trust Secure Accessを全社展開する予定です。弊社のセキュリティポリシーと業務の使い方を踏まえて、"
        "どのような構成・設計で導入するのが最適か、ご提案いただけないでしょうか。\n\nよろしくお願いいたします。\n",
        "iso-2022-jp",
    )
    build(
        "10-ja-iso2022jp-out-of-office", "kato@customer.example",
        "自動応答: 不在のお知らせ",
        "誠に恐れ入りますが、12月1日まで不在にしております。\n期間中は返信が遅れますことをご了承ください。\n",
        "iso-2022-jp", extra="Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n",
    )
    bounce()
    build(
        "11-ja-utf8-managed-xdr", "watanabe@customer.example",
        "Managed XDR契約中ですがアラートについて",
        "お世話になっております。渡辺です。\n\n弊社はTrend Micro Managed XDRサービスを契約しております。\n"
        "昨日のWorkbenchアラートについて、ログ全体の解析と対応要否の判断をお願いできますでしょうか。\n\nよろしくお願いいたします。\n",
        "utf8-b64",
    )
    build(
        "12-en-preview-feature", "lee@customer.example",
        "Question about a Preview feature",
        "Hello,\n\nIn the console, the menu item for the new Attack Surface Discovery app is marked \"Preview\". "
        "How do we enable it for our tenant, and which roles can use it?\n\nRegards,\nMichael Lee\n",
        "en",
    )


if __name__ == "__main__":
    main()
