"""The message catalogue for pages: key -> text in ko, zh and en.

Every key must have all three languages (tests/test_i18n.py checks). Texts
with `{name}` placeholders are filled by `t(key, name=...)` in templates or by
`tr(key, {name: ...})` in scripts; keys under js., state., role., kind.,
event. and actor. are also sent to scripts (web/pages.py SCRIPT_MESSAGES).

Terms used throughout: 서명식/签约仪式 ceremony, 양해각서/谅解备忘录 MOU,
확정/定稿 freeze, 봉인/封存 seal, 진행 순서/议程 run of show, 회의장/会场 venue,
참여기관/参与方 party, 서명자/签署人 signatory, 주최자/主办方 host.
"""

from __future__ import annotations


def _m(ko: str, zh: str, en: str) -> dict[str, str]:
    return {"ko": ko, "zh": zh, "en": en}


MESSAGES: dict[str, dict[str, str]] = {
    # ---- site ----
    "app.name": _m("온라인 서명식", "在线签约仪式", "Online signing ceremony"),
    "footer.text": _m(
        "서명은 각 서명자의 기기에서 만들어지며, 모든 단계는 위·변조를 검증할 수 있는 기록으로 남습니다.",
        "签名在各签署人自己的设备上生成，每一步都记入可验证、防篡改的记录。",
        "Signatures are made on each signatory's own device; every step is kept in a tamper-evident record.",
    ),
    "nav.skip": _m("본문으로 건너뛰기", "跳到正文", "Skip to content"),
    "nav.language": _m("언어", "语言", "Language"),
    "nav.go_back": _m("이전 화면으로", "返回上一页", "Go back"),
    "nav.home": _m("첫 화면으로", "返回首页", "Back to the start page"),
    "nav.document": _m("양해각서", "备忘录", "MOU"),
    "nav.console": _m("서명식 목록", "仪式列表", "All ceremonies"),
    "nav.host": _m("주최자 화면", "主办方控制台", "Host console"),
    "nav.back_to_ceremony": _m("서명식으로 돌아가기", "返回仪式", "Back to the ceremony"),
    "common.copy": _m("복사", "复制", "Copy"),
    "common.cancel": _m("취소", "取消", "Cancel"),
    # ---- landing ----
    "landing.title": _m("안내", "简介", "Welcome"),
    "landing.lead": _m(
        "서로 다른 나라의 두 회의장을 영상으로 연결하여 양해각서에 서명하는 온라인 서명식입니다. "
        "각 회의장은 상대 회의장을 실시간으로 보고, 서명자는 본인의 기기에서 전자서명합니다.",
        "本系统通过视频连接位于不同国家的两个会场，在线签署谅解备忘录。"
        "各会场实时看到对方会场，签署人在自己的设备上进行电子签名。",
        "An online ceremony that links two halls in two countries by video to sign a memorandum of "
        "understanding. Each hall sees the other live, and each signatory signs on their own device.",
    ),
    "landing.link_title": _m("받으신 링크를 열어 주십시오", "请打开您收到的链接", "Open the link you were given"),
    "landing.link_body": _m(
        "주최자, 회의장, 서명자, 참관인은 각자 전용 링크를 받습니다. "
        "그 링크를 열면 맡으신 역할의 화면으로 바로 이동합니다.",
        "主办方、会场、签署人和观察员各自会收到专属链接。打开该链接即可直接进入与您角色相应的页面。",
        "Hosts, venues, signatories and observers each receive their own link. Opening it takes you "
        "straight to the page for your role.",
    ),
    "landing.link_private": _m(
        "링크는 열쇠와 같습니다. 다른 사람에게 전달하지 마십시오. 잃어버렸다면 주최자에게 새 링크를 요청하십시오.",
        "链接相当于钥匙，请勿转发他人。如遗失，请向主办方索取新链接。",
        "A link works like a key: do not forward it. If you lost yours, ask the host for a new one.",
    ),
    "landing.host": _m(
        "서명식을 정의하고 확정한 뒤, 링크를 나누어 주고 순서에 따라 진행하며 마지막에 봉인합니다.",
        "定义并定稿仪式，分发链接，按议程主持仪式，最后封存。",
        "Defines and freezes the ceremony, hands out links, runs it stage by stage and seals it.",
    ),
    "landing.venue": _m(
        "회의장의 큰 화면: 상대 회의장의 실시간 영상, 양해각서, 서명 진행 상황을 보여 줍니다.",
        "会场大屏幕：显示对方会场的实时画面、谅解备忘录和签署进度。",
        "The big screen in each hall: the other hall live, the MOU and the signing progress.",
    ),
    "landing.signatory": _m(
        "태블릿이나 노트북에서 양해각서를 읽고, 본인 기기를 떠나지 않는 키로 서명합니다.",
        "在平板电脑或笔记本电脑上阅读备忘录，并使用不离开本人设备的密钥签名。",
        "Reads the MOU on a tablet or laptop and signs with a key that never leaves the device.",
    ),
    "landing.operator": _m(
        "서버 운영자는 서버를 시작할 때 출력된 운영자 링크로 서명식 목록에 들어갑니다.",
        "服务器运营人员请使用服务器启动时显示的运营人员链接进入仪式列表。",
        "Server operators: open the operator link printed when the server started to see all ceremonies.",
    ),
    # ---- opening a link ----
    "enter.title": _m("링크 여는 중", "正在打开链接", "Opening your link"),
    "enter.opening": _m("링크를 확인하고 있습니다…", "正在验证链接…", "Checking your link…"),
    "enter.failed": _m("이 링크를 열 수 없습니다", "无法打开此链接", "This link cannot be opened"),
    "enter.ask_host": _m(
        "주최자에게 새 링크를 요청하십시오.", "请向主办方索取新链接。", "Please ask the host for a new link."
    ),
    "enter.missing": _m("링크가 완전하지 않습니다", "链接不完整", "This link is incomplete"),
    "enter.missing_help": _m(
        "링크의 # 뒷부분이 빠져 있습니다. 받으신 링크 전체를 복사하여 다시 열어 주십시오.",
        "链接中 # 之后的部分缺失。请完整复制您收到的链接后重新打开。",
        "The part after # is missing. Copy the whole link you received and open it again.",
    ),
    "enter.noscript": _m(
        "이 페이지는 JavaScript가 필요합니다.", "此页面需要启用 JavaScript。", "This page needs JavaScript."
    ),
    # ---- error pages ----
    "error.title": _m("문제가 발생했습니다", "出现问题", "Something went wrong"),
    "error.title.400": _m("요청을 처리할 수 없습니다", "请求有误", "The request could not be processed"),
    "error.title.401": _m("접속 링크가 필요합니다", "需要访问链接", "This page needs your link"),
    "error.title.403": _m("이 링크로는 접근할 수 없습니다", "此链接无权访问", "This link does not give access"),
    "error.title.404": _m("찾을 수 없습니다", "未找到", "Not found"),
    "error.title.405": _m("허용되지 않는 요청입니다", "不允许的请求方式", "Method not allowed"),
    "error.title.409": _m("지금 단계에서는 할 수 없습니다", "当前阶段无法进行此操作", "Not possible at this stage"),
    "error.title.413": _m("요청이 너무 큽니다", "请求内容过大", "The request is too large"),
    "error.title.500": _m("서버 오류", "服务器错误", "Server error"),
    "error.fields": _m("문제가 있는 항목", "有问题的字段", "Fields with problems"),
    "error.help.401": _m(
        "받으신 링크(주최자 또는 서버 운영자가 보낸 것)를 다시 열어 주십시오.",
        "请重新打开您收到的链接（由主办方或服务器运营人员发送）。",
        "Open the link you were given (by the host, or printed for the server operator) again.",
    ),
    "error.help.403": _m(
        "새 링크가 필요하면 주최자에게 요청하십시오.",
        "如需新链接，请联系主办方。",
        "If you need a new link, ask the host.",
    ),
    # ---- states, roles, kinds ----
    "state.draft": _m("초안", "草案", "Draft"),
    "state.frozen": _m("확정됨", "已定稿", "Frozen"),
    "state.open": _m("회의장 개방", "会场已开放", "Rooms open"),
    "state.signing": _m("서명 중", "签署中", "Signing"),
    "state.sealed": _m("봉인됨", "已封存", "Sealed"),
    "state.cancelled": _m("취소됨", "已取消", "Cancelled"),
    "role.host": _m("주최자", "主办方", "Host"),
    "role.venue": _m("회의장", "会场", "Venue"),
    "role.signatory": _m("서명자", "签署人", "Signatory"),
    "role.archivist": _m("기록 보관 담당자", "档案管理员", "Archivist"),
    "role.observer": _m("참관인", "观察员", "Observer"),
    "kind.opening": _m("개회", "开幕", "Opening"),
    "kind.remarks": _m("인사말", "致辞", "Remarks"),
    "kind.signing": _m("서명", "签署", "Signing"),
    "kind.exchange": _m("교환", "交换文本", "Exchange"),
    "kind.closing": _m("폐회", "闭幕", "Closing"),
    "actor.operator": _m("운영자", "运营人员", "Operator"),
    "actor.cli": _m("명령줄", "命令行", "Command line"),
    # ---- timeline events (scripts fill the placeholders) ----
    "event.ceremony.drafted": _m("서명식 초안 작성: {title}", "创建仪式草案：{title}", "Ceremony drafted: {title}"),
    "event.definition.revised": _m(
        "서명식 내용 수정: {title}", "仪式内容已修改：{title}", "Definition revised: {title}"
    ),
    "event.ceremony.frozen": _m(
        "확정됨 — 원본 PDF SHA-256 {sha}", "已定稿——原始 PDF SHA-256 {sha}", "Frozen — original PDF SHA-256 {sha}"
    ),
    "event.rooms.opened": _m("회의장이 열렸습니다", "会场已开放", "Rooms opened"),
    "event.segment.started": _m("진행 단계 시작: {title}", "环节开始：{title}", "Segment started: {title}"),
    "event.ceremony.sealed": _m("서명식이 봉인되었습니다", "仪式已封存", "Ceremony sealed"),
    "event.ceremony.cancelled": _m("서명식 취소: {reason}", "仪式已取消：{reason}", "Ceremony cancelled: {reason}"),
    "event.invitation.issued": _m(
        "링크 발급: {role}{subject}", "发放链接：{role}{subject}", "Link issued: {role}{subject}"
    ),
    "event.invitation.revoked": _m(
        "링크 폐기: {role}{subject}", "撤销链接：{role}{subject}", "Link revoked: {role}{subject}"
    ),
    "event.enrollment.requested": _m(
        "서명 키 등록 요청: {name}", "签署密钥登记申请：{name}", "Signing key enrolment requested: {name}"
    ),
    "event.enrollment.approved": _m(
        "서명 키 승인, 인증서 발급", "签署密钥已批准，证书已签发", "Signing key approved, certificate issued"
    ),
    "event.enrollment.rejected": _m(
        "서명 키 거절: {reason}", "签署密钥被拒绝：{reason}", "Signing key rejected: {reason}"
    ),
    "event.certificate.revoked": _m("인증서 폐기: {why}", "证书已作废：{why}", "Certificate revoked: {why}"),
    "event.consent.recorded": _m("서명 완료: {name}", "已签署：{name}", "Signed: {name}"),
    "event.document.signed": _m(
        "MOU PDF 전자서명: {name}", "已在备忘录PDF上电子签名：{name}", "Signed the MOU PDF: {name}"
    ),
    "event.consent.declined": _m("서명 거부: {name}", "拒绝签署：{name}", "Declined to sign: {name}"),
    # ---- schedule and timeline ----
    "schedule.title": _m("일정", "日程", "Schedule"),
    "schedule.start": _m("시작", "开始时间", "Starts"),
    "schedule.duration": _m("소요 시간", "时长", "Duration"),
    "schedule.minutes": _m("{n}분", "{n} 分钟", "{n} min"),
    "timeline.title": _m("진행 기록", "实时记录", "Timeline"),
    "timeline.connecting": _m("연결 중…", "正在连接…", "Connecting…"),
    "timeline.empty": _m("아직 기록이 없습니다.", "暂无记录。", "Nothing has happened yet."),
    "js.live.live": _m("실시간", "实时", "Live"),
    "js.live.reconnecting": _m("다시 연결 중…", "正在重新连接…", "Reconnecting…"),
    "js.live.closed": _m(
        "실시간 갱신이 멈추었습니다. 페이지를 새로 고쳐 주십시오.",
        "实时更新已停止，请刷新页面。",
        "Live updates stopped; reload the page.",
    ),
    # ---- operator console ----
    "console.title": _m("서명식 목록", "仪式列表", "Ceremonies"),
    "console.new": _m("새 서명식 만들기", "新建仪式", "New ceremony"),
    "console.col.title": _m("서명식", "仪式", "Ceremony"),
    "console.col.state": _m("상태", "状态", "State"),
    "console.col.start": _m("시작 시각", "开始时间", "Starts"),
    "console.col.actions": _m("작업", "操作", "Actions"),
    "console.open_host": _m("주최자 화면 열기", "打开主办方控制台", "Open host console"),
    "console.empty": _m(
        "아직 서명식이 없습니다. ‘새 서명식 만들기’로 시작하십시오.",
        "尚无仪式。请点击“新建仪式”开始。",
        "There are no ceremonies yet. Start with “New ceremony”.",
    ),
    # ---- editor ----
    "editor.title_new": _m("새 서명식", "新建仪式", "New ceremony"),
    "editor.title_edit": _m("서명식 수정", "编辑仪式", "Edit the ceremony"),
    "editor.intro": _m(
        "모든 문구는 한국어, 중국어, 영어로 입력합니다. 서명식을 확정하기 전까지는 얼마든지 고칠 수 있습니다.",
        "所有文字均需以韩文、中文和英文填写。仪式定稿之前可随时修改。",
        "Every text is entered in Korean, Chinese and English. You can change anything until the ceremony is frozen.",
    ),
    "editor.start_demo": _m("예시로 시작하기", "从示例开始", "Start from the demo"),
    "editor.upload": _m("정의 JSON 파일 올리기", "上传定义 JSON 文件", "Upload a definition JSON file"),
    "editor.download": _m("JSON으로 내려받기", "下载为 JSON", "Download as JSON"),
    "editor.created": _m("서명식이 만들어졌습니다", "仪式已创建", "The ceremony was created"),
    "editor.created_body": _m(
        "아래는 이 서명식의 주최자 링크입니다. 이 링크로 주최자 화면에 들어갑니다.",
        "以下是本仪式的主办方链接，通过它进入主办方控制台。",
        "Below is the host link of this ceremony; it opens the host console.",
    ),
    "editor.host_link": _m("주최자 링크", "主办方链接", "Host link"),
    "editor.shown_once": _m(
        "이 링크는 지금 한 번만 표시됩니다. 서버에는 링크의 해시만 저장됩니다.",
        "此链接仅显示这一次，服务器只保存其哈希值。",
        "This link is shown only now: the server keeps only its hash.",
    ),
    "editor.open_host": _m("주최자 화면 열기", "打开主办方控制台", "Open host console"),
    "editor.section.basics": _m("기본 정보", "基本信息", "Basics"),
    "editor.section.venues": _m("회의장", "会场", "Venues"),
    "editor.section.venues_help": _m(
        "카메라와 화면이 있는 회의장입니다. 시간대는 Asia/Seoul 같은 IANA 이름으로 입력합니다.",
        "配有摄像机和屏幕的会场。时区请填写 IANA 名称，例如 Asia/Shanghai。",
        "Halls with a screen and cameras. The time zone is an IANA name such as Asia/Seoul.",
    ),
    "editor.section.parties": _m("참여기관", "参与方", "Parties"),
    "editor.section.parties_help": _m(
        "양해각서의 당사자입니다. 기관마다 서명자가 한 명 이상 있어야 합니다.",
        "备忘录的各方。每个参与方至少需要一名签署人。",
        "The parties to the MOU (at least two); each needs at least one signatory.",
    ),
    "editor.section.signatories": _m("서명자", "签署人", "Signatories"),
    "editor.section.signatories_help": _m(
        "각 서명자는 한 참여기관을 대표하여 한 회의장에서 서명합니다.",
        "每位签署人代表一个参与方，在一个会场签署。",
        "Each signatory signs for one party, from one venue.",
    ),
    "editor.section.run_of_show": _m("진행 순서", "议程", "Run of show"),
    "editor.section.run_of_show_help": _m(
        "서명식은 이 순서대로 진행됩니다. ‘서명’ 단계가 정확히 하나 있어야 합니다.",
        "仪式按此顺序进行，必须恰好包含一个“签署”环节。",
        "The ceremony moves through these segments in order; exactly one must be a signing segment.",
    ),
    "editor.section.document": _m("양해각서 본문", "备忘录正文", "The MOU text"),
    "editor.field.title": _m("서명식 이름", "仪式名称", "Ceremony title"),
    "editor.field.start": _m("시작 일시", "开始时间", "Start date and time"),
    "editor.field.start_zone": _m("시작 시각의 시간대", "开始时间所在时区", "Time zone of the start"),
    "editor.field.duration": _m("소요 시간(분)", "时长（分钟）", "Duration (minutes)"),
    "editor.field.id": _m("식별자", "标识符", "Identifier"),
    "editor.field.country": _m("국가 코드", "国家代码", "Country code"),
    "editor.field.timezone": _m("시간대", "时区", "Time zone"),
    "editor.field.venue_name": _m("회의장 이름", "会场名称", "Venue name"),
    "editor.field.city": _m("도시", "城市", "City"),
    "editor.field.party_name": _m("기관 이름", "参与方名称", "Party name"),
    "editor.field.party": _m("참여기관", "参与方", "Party"),
    "editor.field.venue": _m("회의장", "会场", "Venue"),
    "editor.field.person_name": _m("성명", "姓名", "Name"),
    "editor.field.person_title": _m("직함", "职务", "Title"),
    "editor.field.kind": _m("종류", "类型", "Kind"),
    "editor.field.minutes": _m("시간(분)", "时长（分钟）", "Minutes"),
    "editor.field.segment_title": _m("단계 이름", "环节名称", "Segment title"),
    "editor.field.doc_title": _m("양해각서 제목", "备忘录标题", "MOU title"),
    "editor.field.preamble": _m("전문", "序言", "Preamble"),
    "editor.field.articles": _m("조항", "条款", "Articles"),
    "editor.field.article_title": _m("조항 제목", "条款标题", "Article title"),
    "editor.field.article_body": _m(
        "조항 본문 (‘1. ’로 시작하는 줄은 번호 항목)",
        "条款正文（以“1. ”开头的行为编号款项）",
        "Article text (lines starting “1. ” are numbered paragraphs)",
    ),
    "editor.field.closing": _m("맺음말", "结尾条款", "Closing"),
    "editor.field.prevailing_language": _m("우선 적용 언어", "优先适用语言", "Prevailing language"),
    "editor.field.prevailing_clause": _m("해석 우선 조항", "解释优先条款", "Prevailing-language clause"),
    "editor.venue": _m("회의장", "会场", "Venue"),
    "editor.party": _m("참여기관", "参与方", "Party"),
    "editor.signatory": _m("서명자", "签署人", "Signatory"),
    "editor.segment": _m("단계", "环节", "Segment"),
    "editor.article": _m("조항", "条款", "Article"),
    "editor.add_venue": _m("회의장 추가", "添加会场", "Add a venue"),
    "editor.add_party": _m("참여기관 추가", "添加参与方", "Add a party"),
    "editor.add_signatory": _m("서명자 추가", "添加签署人", "Add a signatory"),
    "editor.add_segment": _m("단계 추가", "添加环节", "Add a segment"),
    "editor.add_article": _m("조항 추가", "添加条款", "Add an article"),
    "editor.remove": _m("삭제", "删除", "Remove"),
    "editor.create": _m("서명식 만들기", "创建仪式", "Create the ceremony"),
    "editor.save": _m("변경 내용 저장", "保存修改", "Save changes"),
    "editor.saving": _m("저장하는 중…", "正在保存…", "Saving…"),
    "editor.locked": _m(
        "이 서명식은 ‘{state}’ 상태이므로 더 이상 수정할 수 없습니다. 내용은 확정할 때 고정되며, "
        "서명 대상 문서가 바뀌지 않도록 보장합니다.",
        "本仪式当前状态为“{state}”，已无法修改。仪式内容在定稿时即被锁定，以确保签署的文件不会改变。",
        "This ceremony is {state}, so it can no longer be edited: its definition was locked when it was "
        "frozen, so that the document being signed cannot change.",
    ),
    # ---- editor scripts ----
    "js.choose": _m("— 선택 —", "— 请选择 —", "— choose —"),
    "js.start_preview": _m("= {times}", "= {times}", "= {times}"),
    "js.required": _m("입력해 주십시오.", "此项为必填。", "This is required."),
    "js.bad_id": _m(
        "영문 소문자, 숫자, ‘-’로 1~48자 (첫 글자는 영문자나 숫자).",
        "1–48 个字符，仅限小写英文字母、数字和“-”（首字符为字母或数字）。",
        "1–48 characters of a–z, 0–9 and “-”, starting with a letter or digit.",
    ),
    "js.bad_country": _m(
        "KR, CN 같은 두 자리 대문자 국가 코드.",
        "两位大写国家代码，例如 KR、CN。",
        "A two-letter country code in capitals, such as KR or CN.",
    ),
    "js.bad_int": _m(
        "{min}에서 {max} 사이의 정수.", "{min} 至 {max} 之间的整数。", "A whole number from {min} to {max}."
    ),
    "js.bad_zone": _m(
        "알 수 없는 시간대입니다 (예: Asia/Seoul).",
        "无法识别的时区（例如 Asia/Shanghai）。",
        "Unknown time zone (e.g. Asia/Seoul).",
    ),
    "js.needs_row": _m("한 줄 이상 추가해 주십시오.", "请至少添加一项。", "Add at least one."),
    "js.problems": _m(
        "고쳐야 할 항목이 {n}개 있습니다. 각 항목 옆에 표시했습니다.",
        "有 {n} 处需要修改，已在相应字段旁标出。",
        "{n} things need fixing; each is marked next to its field.",
    ),
    "js.demo_loaded": _m(
        "예시 서명식(강원도–남경시 수출 양해각서)을 불러왔습니다. 필요한 부분을 고친 뒤 만드십시오.",
        "已载入示例仪式（江原道—南京市出口谅解备忘录）。请按需修改后创建。",
        "The demo ceremony (the Gangwon–Nanjing export MOU) is loaded; change what you need, then create.",
    ),
    "js.invalid_json": _m(
        "{name} 파일은 올바른 JSON이 아닙니다: {error}",
        "文件 {name} 不是有效的 JSON：{error}",
        "{name} is not valid JSON: {error}",
    ),
    "js.not_definition": _m(
        "{name} 파일에는 서명식 정의(JSON 객체)가 없습니다.",
        "文件 {name} 中没有仪式定义（JSON 对象）。",
        "{name} does not hold a ceremony definition (a JSON object).",
    ),
    "js.file_loaded": _m(
        "{name} 파일을 불러왔습니다. 내용을 확인한 뒤 저장하십시오.",
        "已载入文件 {name}。请核对内容后保存。",
        "Loaded {name}. Check the fields, then save.",
    ),
    # ---- scripts: general ----
    "js.network": _m(
        "서버에 연결할 수 없습니다. 네트워크를 확인한 뒤 다시 시도하십시오.",
        "无法连接服务器，请检查网络后重试。",
        "The server could not be reached; check the network and try again.",
    ),
    "js.http": _m(
        "서버가 오류 {status}을(를) 반환했습니다.",
        "服务器返回错误 {status}。",
        "The server answered with error {status}.",
    ),
    "js.unexpected": _m(
        "예기치 못한 문제가 발생했습니다. 페이지를 새로 고쳐 주십시오.",
        "发生意外错误，请刷新页面。",
        "Something unexpected went wrong; reload the page.",
    ),
    "js.access": _m(
        "받으신 링크를 다시 열어 주십시오.", "请重新打开您收到的链接。", "open the link you were given again."
    ),
    # The server's error codes ({"error": code} in every refusal; web/errors.py, web/middleware.py),
    # said in the page's language before the server's own reason, which is English
    # (web/static/api.js errorText; tests/test_i18n.py checks every code has one).
    "js.error.error": _m(
        "서버가 이 요청을 완료하지 못했습니다. 바뀐 것은 없습니다.",
        "服务器未能完成此请求，未作任何更改。",
        "The server could not complete this; nothing was changed.",
    ),
    "js.error.internal": _m(
        "서버에서 예기치 못한 오류가 발생했습니다. 바뀐 것은 없습니다.",
        "服务器发生意外错误，未作任何更改。",
        "The server failed unexpectedly; nothing was changed.",
    ),
    "js.error.bad_request": _m(
        "요청을 처리할 수 없습니다.", "请求有误，无法处理。", "The request could not be processed."
    ),
    "js.error.not_a_record": _m(
        "서명식 기록 파일이 아닙니다.", "这不是签约仪式的档案文件。", "This file is not a ceremony record."
    ),
    "js.error.unauthenticated": _m("접속 링크가 필요합니다.", "需要访问链接。", "This needs your link."),
    "js.error.forbidden": _m("이 링크로는 할 수 없습니다.", "此链接无权进行此操作。", "Your link does not allow this."),
    "js.error.not_found": _m("찾을 수 없습니다.", "未找到。", "Not found."),
    "js.error.conflict": _m("지금은 할 수 없습니다.", "目前无法进行此操作。", "This cannot be done now."),
    "js.error.busy": _m(
        "다른 작업이 진행 중입니다(다른 서명자의 서명 등). 잠시 뒤 다시 시도하십시오.",
        "其他操作正在进行（例如其他签署人正在签名），请稍后重试。",
        "Something else is in progress (another signatory signing, say); try again in a moment.",
    ),
    "js.error.absent_parties": _m(
        "아직 서명하지 않은 서명자가 있습니다.", "仍有签署人尚未签名。", "Some signatories have not signed yet."
    ),
    "js.error.too_large": _m("보낸 내용이 너무 큽니다.", "发送的内容过大。", "What was sent is too large."),
    "js.error.request_entity_too_large": _m(
        "요청 내용이 허용된 크기보다 큽니다.", "请求内容超过允许的大小。", "The request is larger than allowed."
    ),
    "js.error.unsupported_encoding": _m(
        "압축하지 않은 원래 파일을 보내 주십시오.",
        "请发送未经压缩的原始文件。",
        "Send the file as it is, uncompressed.",
    ),
    "js.error.method_not_allowed": _m(
        "이 주소는 그런 방식의 요청을 받지 않습니다.",
        "此地址不接受这种请求方式。",
        "This address does not accept that method.",
    ),
    "js.error.not_decided": _m(
        "아직 동의 또는 거절이 기록되지 않았습니다.",
        "尚未记录同意或拒绝的决定。",
        "No consent or decline has been recorded yet.",
    ),
    "js.error.timestamp_unavailable": _m(
        "시각 인증 기관(TSA)에서 시각 인증을 받지 못했습니다. 기록된 것은 없으니 다시 시도하십시오.",
        "未能从时间戳机构（TSA）获得时间戳。未记录任何内容，请重试。",
        "The time-stamping authority (TSA) could not stamp this; nothing was recorded, try again.",
    ),
    "js.error.signing_failed": _m(
        "서버가 서명을 저장하지 못했습니다. 기록된 것은 없으니 다시 시도하십시오.",
        "服务器未能保存签名。未记录任何内容，请重试。",
        "The server could not store the signature; nothing was recorded, try again.",
    ),
    "js.error.key_retired": _m(
        "서버의 봉인 키 사용 기간이 끝났습니다. 운영자가 서버를 다시 시작하면 새 키로 봉인할 수 있습니다. "
        "기록된 것은 없습니다.",
        "服务器的封存密钥使用期已结束。请运营人员重新启动服务器，即可用新密钥封存。未记录任何内容。",
        "The server's seal key has reached the end of its use; once the operator restarts the server, "
        "seal again. Nothing was recorded.",
    ),
    "js.error.bad_signature_input": _m(
        "서명 또는 인증서 자료가 올바르지 않습니다.",
        "签名或证书数据不正确。",
        "The signature or certificate data is not valid.",
    ),
    "js.copied": _m("복사됨", "已复制", "Copied"),
    "js.copy_failed": _m("직접 복사해 주십시오", "请手动复制", "Copy it by hand"),
    "js.working": _m("처리하는 중…", "正在处理…", "Working…"),
    # ---- host console ----
    "host.title": _m("주최자 화면", "主办方控制台", "Host console"),
    "host.lifecycle": _m("서명식 단계", "仪式阶段", "Ceremony stages"),
    "host.controls": _m("진행", "主持", "Controls"),
    "host.freeze": _m("확정하기", "定稿", "Freeze"),
    "host.freezing": _m(
        "원본 PDF를 만드는 중… (몇 초 걸립니다)",
        "正在生成原始 PDF…（需要几秒钟）",
        "Rendering the original PDF… (a few seconds)",
    ),
    "host.sealing": _m(
        "봉인하는 중… 문서 시점 확인, 증거 파일, 완료 확인서를 만듭니다 (몇 초 걸립니다)",
        "正在封存……正在生成文档时间戳、证据文件和完成证明（需要几秒钟）",
        "Sealing… adding the document timestamp, the evidence and the certificate of completion (a few seconds)",
    ),
    "host.record": _m("봉인된 기록", "封存记录", "Sealed record"),
    "js.seal_absent_confirm": _m(
        "아직 서명하지 않은 서명자가 있습니다: {names}. "
        "이들을 불참으로 기록하고 봉인하시겠습니까? 봉인은 되돌릴 수 없습니다.",
        "以下签署人尚未签署：{names}。是否将其记录为缺席并封存？封存后无法撤销。",
        "These signatories have not signed: {names}. Seal anyway, recording them as absent? Sealing is final.",
    ),
    "host.open": _m("회의장 열기", "开放会场", "Open rooms"),
    "host.next": _m("다음 단계", "下一环节", "Next segment"),
    "host.seal": _m("봉인하기", "封存", "Seal"),
    "host.cancel": _m("서명식 취소…", "取消仪式…", "Cancel the ceremony…"),
    "host.cancel_reason": _m(
        "취소 사유 (모든 참석자에게 표시됨)", "取消原因（所有参与者可见）", "Reason (shown to everyone)"
    ),
    "host.cancel_confirm": _m("취소 확정", "确认取消", "Confirm the cancellation"),
    "host.cancelled_because": _m(
        "이 서명식은 취소되었습니다. 사유:", "本仪式已取消。原因：", "This ceremony was cancelled:"
    ),
    "host.run_of_show": _m("진행 순서", "议程", "Run of show"),
    "host.document": _m("양해각서", "谅解备忘录", "The MOU"),
    "host.sha_label": _m(
        "원본 PDF의 SHA-256 (모든 서명자가 동의하는 문서):",
        "原始 PDF 的 SHA-256（各签署人所同意的文件）：",
        "SHA-256 of the original PDF (the document everyone consents to):",
    ),
    "host.download_pdf": _m("원본 PDF 내려받기", "下载原始 PDF", "Download the original PDF"),
    "host.not_frozen": _m(
        "아직 확정되지 않았습니다. 확정하면 원본 PDF가 한 번 만들어지고 그 해시가 기록됩니다.",
        "尚未定稿。定稿时将生成一次原始 PDF，并记录其哈希值。",
        "Not frozen yet. Freezing renders the original PDF once and records its hash.",
    ),
    "host.edit": _m("수정", "编辑", "Edit"),
    "host.preview_html": _m("미리 보기 (웹)", "预览（网页）", "Preview (web page)"),
    "host.preview_pdf": _m("미리 보기 (PDF)", "预览（PDF）", "Preview (PDF)"),
    "js.hint.draft": _m(
        "내용과 미리 보기를 확인한 뒤 확정하십시오. "
        "확정하면 양해각서가 원본 PDF로 고정되고 더 이상 수정할 수 없습니다.",
        "请核对内容和预览后定稿。定稿后，备忘录将固定为原始 PDF，不能再修改。",
        "Check the definition and the preview, then freeze: the MOU becomes its original PDF and can no longer change.",
    ),
    "js.hint.frozen": _m(
        "회의장과 서명자에게 링크를 나누어 준 뒤, 시작할 때 회의장을 여십시오.",
        "向会场和签署人发放链接，开始时开放会场。",
        "Hand out the venue and signatory links; open the rooms when it is time to begin.",
    ),
    "js.hint.open": _m(
        "진행 순서에 따라 다음 단계로 넘어가십시오.",
        "请按议程进入下一环节。",
        "Move through the run of show, segment by segment.",
    ),
    "js.hint.signing": _m(
        "서명 단계입니다. 모든 서명이 끝나면 봉인하십시오.",
        "签署环节进行中。全部签署完成后请封存。",
        "The signing stage is under way; seal once every signature is in.",
    ),
    "js.hint.sealed": _m(
        "서명식이 봉인되었습니다. 더 이상 바꿀 수 없습니다.",
        "仪式已封存，无法再作更改。",
        "The ceremony is sealed; nothing can change any more.",
    ),
    "js.hint.cancelled": _m("서명식이 취소되었습니다.", "仪式已取消。", "The ceremony was cancelled."),
    "js.cancel_needs_reason": _m(
        "취소 사유를 입력해 주십시오.", "请填写取消原因。", "Please give a reason for the cancellation."
    ),
    # ---- links ----
    "links.title": _m("접속 링크", "访问链接", "Links"),
    "links.help": _m(
        "링크마다 한 서명식의 한 역할만 부여됩니다. 회의장과 서명자 링크는 확정 후에 발급할 수 있습니다.",
        "每个链接只授予一个仪式中的一个角色。会场和签署人链接须在定稿后发放。",
        "Each link grants one role in this ceremony. Venue and signatory links can be issued once frozen.",
    ),
    "links.role": _m("역할", "角色", "Role"),
    "links.venue": _m("회의장", "会场", "Venue"),
    "links.signatory": _m("서명자", "签署人", "Signatory"),
    "links.label": _m("메모", "备注", "Label"),
    "links.label_hint": _m("예: 춘천 회의장 태블릿", "例如：南京会场平板", "e.g. Chuncheon hall tablet"),
    "links.issue": _m("링크 발급", "发放链接", "Issue link"),
    "links.new_link": _m("새 링크", "新链接", "New link"),
    "links.url": _m("링크 주소", "链接地址", "Link address"),
    "links.qr_alt": _m("링크의 QR 코드", "链接二维码", "QR code of the link"),
    "links.shown_once": _m(
        "이 링크는 지금 한 번만 표시됩니다. 받을 사람에게만 안전하게 전달하십시오.",
        "此链接仅显示这一次，请通过安全方式只发给其持有人。",
        "This link is shown only now. Send it privately to the person it is for.",
    ),
    "links.for": _m("대상", "对象", "For"),
    "links.issued": _m("발급 시각", "发放时间", "Issued"),
    "links.status": _m("상태", "状态", "Status"),
    "js.new_link_for": _m("새 링크: {role}", "新链接：{role}", "New link: {role}"),
    "js.link_active": _m("유효", "有效", "Active"),
    "js.link_revoked": _m("폐기됨", "已撤销", "Revoked"),
    "js.revoke": _m("폐기", "撤销", "Revoke"),
    "js.no_links": _m("발급된 링크가 없습니다.", "尚未发放链接。", "No links issued yet."),
    # ---- roster ----
    "roster.title": _m("참석 구성", "参与名单", "Roster"),
    "roster.venues": _m("회의장", "会场", "Venues"),
    "roster.venue": _m("회의장", "会场", "Venue"),
    "roster.city": _m("도시", "城市", "City"),
    "roster.timezone": _m("시간대", "时区", "Time zone"),
    "roster.parties": _m("참여기관", "参与方", "Parties"),
    "roster.party": _m("참여기관", "参与方", "Party"),
    "roster.country": _m("국가", "国家", "Country"),
    "roster.signatories": _m("서명자", "签署人", "Signatories"),
    "roster.name": _m("성명", "姓名", "Name"),
    "roster.person_title": _m("직함", "职务", "Title"),
    # ---- document and participant pages ----
    "doc.title": _m("양해각서", "谅解备忘录", "Memorandum of understanding"),
    "doc.frozen_note": _m(
        "이 본문은 확정되었습니다. 서명 대상은 아래 SHA-256 값을 가진 원본 PDF입니다.",
        "本文本已定稿。签署对象是具有以下 SHA-256 值的原始 PDF。",
        "This text is frozen. What is signed is the original PDF with this SHA-256:",
    ),
    "doc.draft_note": _m(
        "초안입니다. 서명식이 확정되기 전까지 본문이 바뀔 수 있습니다.",
        "这是草案。仪式定稿之前，正文仍可能修改。",
        "This is a draft: the text may still change until the ceremony is frozen.",
    ),
    "view.eyebrow": _m("서명식", "签约仪式", "Signing ceremony"),
    "view.you_are": _m("나의 역할", "您的角色", "You are"),
    "view.stage": _m("현재 단계", "当前阶段", "Current stage"),
    "view.read_mou": _m("양해각서 읽기", "阅读备忘录", "Read the MOU"),
    # ---- live media: venue screen and the host's Halls panel ----
    "live.signal": _m("서버", "服务器", "Server"),
    "live.video": _m("영상", "视频", "Video"),
    "live.camera": _m("카메라", "摄像头", "Camera"),
    "live.microphone": _m("마이크", "麦克风", "Microphone"),
    "venue.eyebrow": _m("회의장 화면", "会场屏幕", "Hall screen"),
    "venue.connection": _m("연결 상태", "连接状态", "Connection"),
    "venue.screen": _m("상대 회의장 실시간 영상", "对方会场实时画面", "The other hall, live"),
    "venue.waiting_other": _m("상대 회의장을 기다리는 중", "正在等待对方会场", "Waiting for the other hall"),
    "venue.waiting_other_help": _m(
        "상대 회의장이 연결되면 이곳에 실시간 영상이 나타납니다.",
        "对方会场接入后，实时画面将显示在这里。",
        "Its live picture appears here as soon as it connects.",
    ),
    "venue.lobby": _m(
        "주최자의 입장 승인을 기다리는 중입니다",
        "正在等待主办方允许本会场进入",
        "Waiting for the host to admit this hall",
    ),
    "venue.lobby_help": _m(
        "이 회의장이 준비되었음을 주최자에게 알렸습니다. 승인되면 자동으로 연결됩니다.",
        "已通知主办方本会场已就绪。获准后将自动接通。",
        "The host has been told this hall is here. The screen connects by itself once admitted.",
    ),
    "venue.reload": _m("다시 연결", "重新连接", "Connect again"),
    "venue.self": _m("이 회의장", "本会场", "this hall"),
    "venue.sha_label": _m("원본 PDF의 SHA-256:", "原始 PDF 的 SHA-256：", "SHA-256 of the original PDF:"),
    "venue.pdf": _m("원본 PDF", "原始 PDF", "Original PDF"),
    "venue.progress": _m("서명 진행 상황", "签署进度", "Signing progress"),
    "venue.not_signed": _m("서명 전", "未签署", "Not signed yet"),
    "venue.progress_help": _m(
        "서명이 이루어지는 대로 이곳에 표시됩니다. • 표시는 이 회의장에서 서명하는 분입니다.",
        "签署完成后将即时显示在此处。标有 • 的为在本会场签署的人员。",
        "Signatures appear here as they are made; • marks those signing in this hall.",
    ),
    "venue.controls": _m("카메라와 마이크", "摄像头和麦克风", "Camera and microphone"),
    "halls.title": _m("회의장 연결", "会场连线", "Halls"),
    "halls.help": _m(
        "입장을 승인한 회의장의 실시간 영상입니다. 회의장 링크를 연 회의장은 승인할 때까지 대기실에서 기다립니다.",
        "以下为已获准进入的会场的实时画面。打开会场链接的会场须在等候区等待您批准。",
        "Each admitted hall, live. A hall that opens its venue link waits in the lobby until you admit it.",
    ),
    "halls.lobby": _m("입장 대기 중", "等待进入", "Waiting to be admitted"),
    "halls.empty": _m("아직 연결된 회의장이 없습니다.", "尚无会场接入。", "No hall has connected yet."),
    "halls.you": _m("주최자(나)", "主办方（本人）", "You (host)"),
    "halls.rejoin": _m("다시 참여", "重新加入", "Join again"),
    "halls.end": _m("영상 연결 종료…", "结束视频连线…", "End session…"),
    "halls.end_help": _m(
        "모든 회의장과 참석자의 연결이 끊어지며, 회의장은 다시 승인을 받아야 합니다. 서명식 기록에는 영향이 없습니다.",
        "所有会场和参与者的连接都将断开，会场须重新获准才能进入。仪式记录不受影响。",
        "Every hall and participant is disconnected, and halls must be admitted again. "
        "The ceremony record is not affected.",
    ),
    "halls.end_confirm": _m("연결 종료", "结束连线", "End the session"),
    "js.signal.connecting": _m("연결 중…", "正在连接…", "Connecting…"),
    "js.signal.live": _m("연결됨", "已连接", "Connected"),
    "js.signal.reconnecting": _m("다시 연결 중…", "正在重新连接…", "Reconnecting…"),
    "js.signal.closed": _m("연결 끊김", "已断开", "Disconnected"),
    "js.rtc.state.new": _m("준비 중", "准备中", "Starting"),
    "js.rtc.state.connecting": _m("연결 중", "连接中", "Connecting"),
    "js.rtc.state.connected": _m("연결됨", "已连接", "Connected"),
    "js.rtc.state.disconnected": _m("끊김, 복구 중", "中断，正在恢复", "Interrupted, recovering"),
    "js.rtc.state.failed": _m("연결 실패, 다시 시도 중", "连接失败，正在重试", "Failed, retrying"),
    "js.rtc.state.closed": _m("종료됨", "已结束", "Closed"),
    "js.rtc.summary.none": _m("상대 없음", "暂无对方", "No one yet"),
    "js.rtc.summary.new": _m("준비 중", "准备中", "Starting"),
    "js.rtc.summary.connecting": _m("연결 중", "连接中", "Connecting"),
    "js.rtc.summary.connected": _m("연결됨", "已连接", "Connected"),
    "js.rtc.summary.disconnected": _m("복구 중", "正在恢复", "Recovering"),
    "js.rtc.summary.failed": _m("다시 시도 중", "正在重试", "Retrying"),
    "js.rtc.summary.closed": _m("종료됨", "已结束", "Closed"),
    "js.rtc.no_video": _m("영상을 기다리는 중…", "正在等待画面…", "Waiting for video…"),
    "js.media.denied": _m(
        "카메라와 마이크 사용이 허용되지 않았습니다. 브라우저 주소창에서 권한을 허용해 주십시오.",
        "未获准使用摄像头和麦克风。请在浏览器地址栏中允许访问。",
        "Camera and microphone access was not allowed; allow it from the browser's address bar.",
    ),
    "js.media.not_found": _m(
        "카메라나 마이크를 찾을 수 없습니다. 연결 상태를 확인해 주십시오.",
        "未找到摄像头或麦克风，请检查设备连接。",
        "No camera or microphone was found; check that they are plugged in.",
    ),
    "js.media.busy": _m(
        "다른 프로그램이 카메라나 마이크를 사용하고 있습니다.",
        "摄像头或麦克风正被其他程序占用。",
        "Another program is using the camera or microphone.",
    ),
    "js.media.failed": _m(
        "카메라를 켜지 못했습니다: {error}", "无法打开摄像头：{error}", "The camera could not be started: {error}"
    ),
    "js.media.camera_n": _m("카메라 {n}", "摄像头 {n}", "Camera {n}"),
    "js.media.mic_n": _m("마이크 {n}", "麦克风 {n}", "Microphone {n}"),
    "js.media.none": _m("장치 없음", "无设备", "No device"),
    "js.media.mute_mic": _m("마이크 끄기", "关闭麦克风", "Mute microphone"),
    "js.media.unmute_mic": _m("마이크 켜기", "打开麦克风", "Unmute microphone"),
    "js.media.cam_off": _m("카메라 끄기", "关闭摄像头", "Turn camera off"),
    "js.media.cam_on": _m("카메라 켜기", "打开摄像头", "Turn camera on"),
    "js.media.sound_on": _m("소리 켜기", "打开声音", "Turn sound on"),
    "js.venue.progress.consented": _m("동의함", "已同意", "Consented"),
    "js.venue.progress.declined": _m("거부함", "已拒绝", "Declined"),
    "js.venue.progress.signed": _m("서명 완료", "已签署", "Signed"),
    "js.venue.no_segment": _m("곧 시작합니다", "即将开始", "Starting soon"),
    "js.venue.ended": _m("주최자가 영상 연결을 종료했습니다.", "主办方已结束视频连线。", "The host ended the session."),
    "js.venue.replaced": _m(
        "이 회의장 링크가 다른 화면에서 열려, 이 화면은 연결을 멈추었습니다.",
        "本会场链接已在另一屏幕上打开，此屏幕已停止连接。",
        "This hall's link was opened on another screen, so this one stopped.",
    ),
    "js.venue.cancelled": _m("서명식이 취소되었습니다.", "仪式已取消。", "The ceremony was cancelled."),
    "js.venue.refused": _m(
        "주최자가 이 회의장의 입장을 승인하지 않았거나, 링크가 더 이상 유효하지 않습니다.",
        "主办方未批准本会场进入，或链接已失效。",
        "The host did not admit this hall, or the link is no longer valid.",
    ),
    "js.venue.closed": _m("연결이 끊어졌습니다.", "连接已断开。", "The connection was closed."),
    "js.venue.fullscreen": _m("전체 화면", "全屏", "Full screen"),
    "js.venue.exit_fullscreen": _m("전체 화면 끝내기", "退出全屏", "Exit full screen"),
    "js.halls.receive_only": _m(
        "카메라 없이 참여하여 회의장 영상만 받습니다.",
        "将不使用摄像头加入，仅接收会场画面。",
        "Joining without a camera: the halls are received only.",
    ),
    "js.halls.admit": _m("입장 승인", "允许进入", "Admit"),
    "js.halls.reject": _m("거절", "拒绝", "Reject"),
    "js.halls.refused": _m("요청이 거부되었습니다: {reason}", "请求被拒绝：{reason}", "Refused: {reason}"),
    "js.halls.ended": _m(
        "영상 연결을 종료했습니다. 다시 참여하면 회의장은 다시 승인을 받아야 합니다.",
        "视频连线已结束。重新加入后，会场须再次获准进入。",
        "The session was ended. After joining again, halls must be admitted again.",
    ),
    "js.halls.replaced": _m(
        "이 주최자 링크가 다른 창에서 열려, 이 창의 연결을 멈추었습니다.",
        "此主办方链接已在另一窗口打开，本窗口已停止连接。",
        "This host link was opened in another window, so this one stopped.",
    ),
    "js.halls.closed": _m(
        "회의장 연결이 끊어졌습니다: {reason}",
        "会场连线已断开：{reason}",
        "The connection to the halls was closed: {reason}",
    ),
    "js.halls.needs_link": _m(
        "회의장 연결에 참여하려면 이 서명식의 주최자 링크를 열어 주십시오.",
        "如需加入会场连线，请打开本仪式的主办方链接。",
        "To join the halls, open this ceremony's host link.",
    ),
    # ---- signing page ----
    "sign.title": _m("서명", "签署", "Signing"),
    "sign.you": _m("서명자", "签署人", "Signatory"),
    "sign.name": _m("성명", "姓名", "Name"),
    "sign.position": _m("직함", "职务", "Title"),
    "sign.party": _m("참여기관", "参与方", "Party"),
    "sign.venue": _m("회의장", "会场", "Venue"),
    "sign.consent_title": _m("동의 및 서명", "同意并签署", "Consent and sign"),
    "sign.agree": _m(
        "위 내용을 읽었으며 이에 동의합니다.",
        "本人已阅读上述内容并表示同意。",
        "I have read the statement above and agree.",
    ),
    "sign.sign": _m("서명", "签署", "Sign"),
    "sign.decline": _m("서명 거부", "拒绝签署", "Decline"),
    "sign.decline_text": _m("서명 거부 문안", "拒绝签署声明", "Statement of refusal"),
    "sign.decline_confirm": _m("거부에 서명", "签署拒绝声明", "Sign the refusal"),
    "sign.tsa_time": _m(
        "시점 확인 기관(TSA)이 확인한 시각:",
        "时间戳机构（TSA）确认的时间：",
        "Time certified by the time-stamping authority:",
    ),
    "sign.serial": _m("인증서 일련번호", "证书序列号", "Certificate serial"),
    "sign.pdf_title": _m("MOU PDF 전자서명", "备忘录PDF电子签名", "Your signature in the MOU PDF"),
    "sign.pdf_retry": _m("다시 시도", "重试", "Try again"),
    "sign.status": _m("이 기기의 상태", "本设备状态", "This device"),
    "sign.key": _m("서명 키", "签名密钥", "Signing key"),
    "sign.key_making": _m("키를 만드는 중…", "正在生成密钥…", "Making a key…"),
    "sign.enrollment": _m("키 승인", "密钥批准", "Key approval"),
    "sign.enroll_again": _m("다시 승인 요청", "重新申请批准", "Ask for approval again"),
    "js.sign.key_here": _m(
        "이 기기에만 저장된 키 (지문 SHA-256):",
        "仅保存在本设备上的密钥（指纹 SHA-256）：",
        "Key kept on this device only (SHA-256 fingerprint):",
    ),
    "js.sign.enrollment.none": _m("요청 전", "尚未申请", "Not requested"),
    "js.sign.enrollment.pending": _m("승인 대기 중", "等待批准", "Waiting for approval"),
    "js.sign.enrollment.approved": _m("승인됨", "已批准", "Approved"),
    "js.sign.enrollment.rejected": _m("거절됨", "已拒绝", "Rejected"),
    "js.sign.enrollment.revoked": _m("폐기됨", "已作废", "Revoked"),
    # Why, by the CRL reason the core recorded (ceremony.signing.REVOCATION_CAUSES).
    "js.cause.superseded": _m("새 기기 승인", "新设备已获批准", "a new device was approved"),
    "js.cause.key_compromise": _m("분실·유출 신고", "报告遗失或泄露", "reported lost or compromised"),
    "js.cause.cessation": _m("사용 중지", "停止使用", "withdrawn"),
    "js.sign.revoked.superseded": _m(
        "다른 기기의 키가 승인되었습니다.",
        "您另一设备上的密钥已获批准。",
        "A key on another of your devices was approved.",
    ),
    "js.sign.revoked.key_compromise": _m(
        "분실 또는 유출 신고로 주최 측이 폐기했습니다. 이 키로는 더 서명할 수 없으니 주최 측에 문의하십시오.",
        "主办方因报告遗失或泄露而将其作废。此密钥不能再签署，请联系主办方。",
        "The host revoked it as lost or compromised; it signs nothing more. Ask the host.",
    ),
    "js.sign.revoked.cessation": _m(
        "주최 측이 이 키를 거두었습니다. 이 키로는 더 서명할 수 없으니 주최 측에 문의하십시오.",
        "主办方已撤回此密钥。此密钥不能再签署，请联系主办方。",
        "The host withdrew this key; it signs nothing more. Ask the host.",
    ),
    "js.sign.hint.not_frozen": _m(
        "양해각서가 아직 확정되지 않았습니다. 확정되면 이 화면이 새로 고쳐집니다.",
        "备忘录尚未定稿。定稿后本页面将自动刷新。",
        "The MOU is not frozen yet; this page reloads once it is.",
    ),
    "js.sign.hint.key": _m(
        "이 기기에서 서명 키를 만드는 중입니다.", "正在本设备上生成签名密钥。", "Making a signing key on this device."
    ),
    "js.sign.hint.pending": _m(
        "주최자가 화면으로 본인을 확인한 뒤 이 기기의 키를 승인합니다.",
        "主办方通过视频确认您的身份后，将批准本设备的密钥。",
        "The host approves this device's key after seeing you on camera.",
    ),
    "js.sign.hint.rejected": _m(
        "이 기기의 키가 승인되지 않았습니다. 주최자에게 문의하십시오.",
        "本设备的密钥未获批准，请联系主办方。",
        "This device's key is not approved; please ask the host.",
    ),
    "js.sign.hint.wait_stage": _m(
        "서명 순서가 되면 서명할 수 있습니다.",
        "进入签署环节后即可签署。",
        "You can sign once the signing segment begins.",
    ),
    "js.sign.hint.tick": _m(
        "동의 확인란을 선택한 뒤 서명하십시오.", "请勾选同意框后签署。", "Tick the box to agree, then sign."
    ),
    "js.sign.hint.ready": _m("서명할 수 있습니다.", "可以签署。", "Ready to sign."),
    "js.sign.pdf.working": _m(
        "이 기기의 키로 MOU PDF에 서명하는 중… 다른 서명자가 서명 중이면 차례를 기다립니다.",
        "正在用本设备的密钥签署备忘录PDF……如有其他签署人正在签署，将按顺序等待。",
        "Signing the MOU PDF with this device's key… if another signatory is signing, this waits its turn.",
    ),
    "js.sign.pdf.done": _m(
        "서명이 MOU PDF에 들어갔습니다 ({field}). 서명 시각:",
        "您的签名已加入备忘录PDF（{field}）。签名时间：",
        "Your signature is in the MOU PDF ({field}). Signed at:",
    ),
    "js.sign.pdf.failed": _m(
        "PDF 서명을 마치지 못했습니다. 다시 시도하십시오.",
        "未能完成PDF签名，请重试。",
        "The PDF signature could not be completed. Try again.",
    ),
    "js.sign.signed": _m("서명이 기록되었습니다", "签署已记录", "Your signature is recorded"),
    "js.sign.declined": _m("서명 거부가 기록되었습니다", "拒绝签署已记录", "Your refusal is recorded"),
    # ---- signing page: the signatory's receipt ----
    "sign.receipt_title": _m("내 서명 확인증", "我的签署回执", "Your receipt"),
    "sign.receipt_lead": _m(
        "서버에 기록된 내용과 같은 값입니다. 소리 내어 읽거나 대조하기 쉽도록 네 글자씩 나누어 표시합니다.",
        "以下数值与服务器记录一致，按四个字符一组显示，便于朗读和核对。",
        "These are the values the server recorded, in groups of four for reading aloud and comparing.",
    ),
    "sign.receipt_sha": _m(
        "내 서명이 들어간 양해각서 PDF의 SHA-256",
        "加入您签名后的备忘录 PDF 的 SHA-256",
        "SHA-256 of the MOU PDF with your signature",
    ),
    "sign.receipt_key": _m(
        "내 서명 키의 지문 (SHA-256)", "您的签名密钥指纹（SHA-256）", "Your key's fingerprint (SHA-256)"
    ),
    "sign.receipt_time": _m(
        "신뢰할 수 있는 시각 (시점 확인 기관)", "可信时间（时间戳机构）", "Trusted time (time-stamping authority)"
    ),
    "sign.receipt_download": _m("확인증 내려받기", "下载回执", "Download receipt"),
    "sign.receipt_why": _m(
        "이 파일을 보관하십시오. 나중에 봉인된 기록이 내가 서명한 내용 그대로인지 이 파일로 확인할 수 있습니다:",
        "请保存此文件：日后可凭它核对封存记录与您所签署的内容是否完全一致：",
        "Keep this file: with it you can check later that the sealed record holds exactly what you signed:",
    ),
    "js.sign.receipt.saved": _m("{file} 파일로 저장했습니다.", "已保存为 {file}。", "Saved as {file}."),
    "js.sign.receipt.not_decided": _m(
        "아직 확인증이 없습니다. 서명하거나 서명을 거부하면 만들어집니다.",
        "尚无回执：签署或拒绝签署后才会生成。",
        "There is no receipt yet: it is written once you sign or decline.",
    ),
    "js.sign.receipt.access": _m(
        "이 링크로는 확인증을 볼 수 없습니다. 받으신 서명자 링크를 다시 열어 주십시오.",
        "此链接无法查看回执。请重新打开您收到的签署人链接。",
        "This link may not read the receipt; open the signatory link you were given again.",
    ),
    "js.sign.receipt.not_found": _m(
        "서버에서 이 서명식을 찾을 수 없습니다.", "服务器上找不到此仪式。", "The server does not know this ceremony."
    ),
    "js.sign.receipt.failed": _m(
        "확인증을 가져오지 못했습니다 (오류 {status}). 다시 시도하십시오.",
        "未能获取回执（错误 {status}），请重试。",
        "The receipt could not be fetched (error {status}). Try again.",
    ),
    # ---- the sealed record's SHA-256, on the halls' screens and the host console ----
    "seal.record_sha": _m("봉인된 기록의 SHA-256", "封存记录的 SHA-256", "SHA-256 of the sealed record"),
    "seal.sealed_at": _m("봉인 시각", "封存时间", "Sealed at"),
    "seal.compare": _m(
        "두 회의장에 같은 값이 표시됩니다. 기록 파일을 받으면 이 값과 대조하십시오.",
        "两个会场显示相同的数值。收到记录文件后，请与此数值核对。",
        "Both halls show the same value; compare it with the record file when you receive it.",
    ),
    # ---- host: signatories' keys ----
    "keys.title": _m("서명자 키", "签署人密钥", "Signatories' keys"),
    "keys.help": _m(
        "화면으로 본인을 확인한 뒤 키를 승인하십시오. 승인하면 짧은 기간 유효한 인증서가 발급됩니다.",
        "请通过视频确认本人后再批准密钥。批准后将签发短期有效的证书。",
        "Approve a key after seeing the person on camera; approval issues a short-lived certificate.",
    ),
    "keys.signatory": _m("서명자", "签署人", "Signatory"),
    "keys.fingerprint": _m("키 지문", "密钥指纹", "Key fingerprint"),
    "keys.device": _m("기기", "设备", "Device"),
    "keys.requested": _m("요청 시각", "申请时间", "Requested"),
    "keys.progress": _m("서명 진행 상황", "签署进度", "Signing progress"),
    "js.keys.status.pending": _m("대기 중", "待批准", "Pending"),
    "js.keys.status.approved": _m("승인됨", "已批准", "Approved"),
    "js.keys.status.rejected": _m("거절됨", "已拒绝", "Rejected"),
    "js.keys.status.revoked": _m("폐기됨", "已作废", "Revoked"),
    "js.keys.approve": _m("승인", "批准", "Approve"),
    "js.keys.reject": _m("거절", "拒绝", "Reject"),
    "js.keys.revoke": _m("키 폐기", "吊销密钥", "Revoke key"),
    "js.keys.revoke_reason": _m(
        "이 키를 폐기하면 CA의 폐기 목록(CRL)에 오르고, 앞으로 아무것도 서명할 수 없습니다. 이미 한 서명은 "
        "유효합니다. 이유를 적으십시오(예: 태블릿 분실).",
        "吊销后，此密钥将列入 CA 的吊销列表（CRL），此后不能再签署任何内容；此前的签名依然有效。"
        "请填写原因（例如：平板遗失）。",
        "Revoking puts this key on the CA's revocation list (CRL): it signs nothing more; what it signed "
        "before stays valid. Give a reason (a lost tablet, say).",
    ),
    "js.keys.reject_reason": _m("거절 사유를 입력하십시오.", "请输入拒绝理由。", "Why is this key rejected?"),
    "js.keys.none": _m("아직 키 승인 요청이 없습니다.", "尚无密钥批准申请。", "No keys to approve yet."),
    "js.keys.progress.in_pdf": _m("PDF 서명 완료", "已签入PDF", "In the PDF"),
    "js.keys.progress.pdf_pending": _m("PDF 서명 대기", "等待PDF签名", "PDF signature pending"),
    "js.keys.progress.pending": _m("대기", "待签署", "Pending"),
    "js.keys.progress.signed": _m("서명함", "已签署", "Signed"),
    "js.keys.progress.declined": _m("거부함", "已拒绝", "Declined"),
    # ---- archive: records and verification ----
    "landing.verify": _m(
        "봉인된 서명식 기록은 링크 없이 누구나 검증할 수 있습니다.",
        "已封存的仪式档案，任何人无需链接即可验证。",
        "Anyone can verify a sealed ceremony's record, without a link.",
    ),
    "nav.archive": _m("기록 보관함", "档案库", "Records"),
    "nav.verify": _m("기록 검증", "验证档案", "Verify a record"),
    "nav.archive_menu": _m("기록 보관", "档案", "Records and verification"),
    "archive.title": _m("서명식 기록", "仪式档案", "Ceremony records"),
    "archive.lead": _m(
        "봉인된 서명식마다 기록 파일(zip)이 하나씩 있습니다. 서명된 양해각서와 증거 자료, 그리고 누구나 표준 "
        "도구로 확인할 수 있는 명령이 들어 있습니다. 내려받아 보관하십시오. 이 서버에서나 오프라인으로 언제든 "
        "검증할 수 있습니다.",
        "每个已封存的仪式都有一个档案文件（zip），内含已签署的备忘录、证据材料，以及任何人都能用标准工具核验的命令。"
        "请下载保存；可随时在本服务器上或离线验证。",
        "Each sealed ceremony has one record, a zip file: the signed MOU, the evidence, and the commands that "
        "check it with standard tools. Download it and keep it; you can verify it here or offline at any time.",
    ),
    "archive.col.ceremony": _m("서명식", "仪式", "Ceremony"),
    "archive.col.state": _m("상태", "状态", "State"),
    "archive.col.start": _m("시작 시각", "开始时间", "Starts"),
    "archive.col.record": _m("기록", "档案", "Record"),
    "archive.col.actions": _m("작업", "操作", "Actions"),
    "archive.download": _m("기록 내려받기", "下载档案", "Download the record"),
    "archive.details": _m("자세히", "详情", "Details"),
    "archive.sealed_at": _m("봉인 시각", "封存时间", "Sealed"),
    "archive.frozen_at": _m("확정 시각", "定稿时间", "Frozen"),
    "archive.counts": _m(
        "서명 {signed} · 거부 {declined} · 불참 {absent}",
        "已签署 {signed} · 拒绝 {declined} · 缺席 {absent}",
        "{signed} signed · {declined} declined · {absent} absent",
    ),
    "archive.not_sealed": _m(
        "아직 봉인되지 않았습니다. 기록은 주최자가 봉인할 때 만들어집니다.",
        "尚未封存。档案在主办方封存仪式时生成。",
        "Not sealed yet: the record is written when the host seals the ceremony.",
    ),
    "archive.watching": _m(
        "봉인되면 이 페이지가 저절로 새로 고쳐집니다.",
        "封存后本页面将自动刷新。",
        "This page reloads by itself once the ceremony is sealed.",
    ),
    "archive.cancelled": _m(
        "취소된 서명식이므로 기록이 없습니다.", "仪式已取消，因此没有档案。", "Cancelled, so there is no record."
    ),
    "archive.missing": _m(
        "봉인되었지만 이 서버에서 기록 파일을 찾을 수 없습니다. 서버 운영자에게 문의하십시오.",
        "仪式已封存，但本服务器上找不到档案文件。请联系服务器运营人员。",
        "Sealed, but the record file is missing from this server; please ask the server operator.",
    ),
    "archive.empty": _m(
        "이 서버에는 아직 서명식이 없습니다.", "本服务器上还没有仪式。", "There are no ceremonies on this server yet."
    ),
    "archive.eyebrow": _m("서명식 기록", "仪式档案", "Ceremony record"),
    "archive.record_title": _m("기록 파일", "档案文件", "The record"),
    "archive.file_name": _m("파일 이름", "文件名", "File name"),
    "archive.size": _m("크기", "大小", "Size"),
    "archive.sha256": _m("SHA-256 해시", "SHA-256 哈希值", "SHA-256 hash"),
    "archive.keep_hash": _m(
        "이 SHA-256 값을 기록 파일과 따로 적어 두십시오. 나중에 파일이 바뀌지 않았음을 보여 줍니다.",
        "请将此 SHA-256 值与档案文件分开记录，日后可据此证明文件未被改动。",
        "Note this SHA-256 somewhere apart from the file: later it shows that the file has not changed.",
    ),
    "archive.verify_this": _m("이 기록 검증하기", "验证此档案", "Verify this record"),
    "archive.verify_here": _m(
        "이 서버에서 기록 검증하기 →", "在本服务器上验证档案 →", "Verify a record on this server →"
    ),
    "archive.offline_title": _m("오프라인 검증", "离线验证", "Verifying offline"),
    "archive.offline": _m(
        "이 서버 없이도 기록만으로 검증할 수 있습니다:",
        "无需本服务器，仅凭档案即可验证：",
        "Without this server, from the record alone:",
    ),
    "archive.contents": _m("기록에 들어 있는 파일", "档案内容", "What the record contains"),
    "archive.col.file": _m("파일", "文件", "File"),
    "archive.col.size": _m("크기", "大小", "Size"),
    "archive.col.what": _m("내용", "说明", "What it is"),
    "archive.file.statement": _m(
        "서명자가 서명한 결정 문안 (RFC 8785 바이트)",
        "签署人所签的决定声明（RFC 8785 字节）",
        "The decision statement the signatory signed (RFC 8785 bytes)",
    ),
    "archive.file.statement_sig": _m(
        "그 문안에 대한 서명자의 ECDSA 서명 (DER)",
        "签署人对该声明的 ECDSA 签名（DER）",
        "The signatory's ECDSA signature over it (DER)",
    ),
    "archive.file.statement_tsr": _m(
        "그 문안에 대한 RFC 3161 시점 확인 토큰",
        "该声明的 RFC 3161 时间戳令牌",
        "The RFC 3161 timestamp token over it",
    ),
    "archive.file.certificate": _m(
        "서명자의 인증서 (결정에 사용된 것)",
        "签署人的证书（作出决定时所用）",
        "The signatory's certificate (the one the decision was made with)",
    ),
    "archive.file.signed_pdf": _m(
        "원본 양해각서, 서명자마다의 PAdES 서명, 봉인 때 더한 문서 타임스탬프",
        "原始备忘录、每位签署人的 PAdES 签名，以及封存时加盖的文档时间戳",
        "The original MOU, each signatory's PAdES signature, and the document timestamp added at seal",
    ),
    "archive.file.evidence": _m(
        "증거 자료(RFC 8785 정규 JSON): 서명자, 인증서, 동의 진술, 이벤트 기록의 해시",
        "证据（RFC 8785 规范 JSON）：签署人、证书、同意声明、事件日志哈希",
        "The evidence (RFC 8785 canonical JSON): signatories, certificates, consents, the log's hash",
    ),
    "archive.file.evidence_tsr": _m(
        "evidence.json에 대한 RFC 3161 타임스탬프",
        "针对 evidence.json 的 RFC 3161 时间戳",
        "RFC 3161 timestamp over evidence.json",
    ),
    "archive.file.evidence_p7s": _m(
        "서버의 봉인 인증서로 만든 evidence.json의 분리 서명(CMS)",
        "服务器以封印证书对 evidence.json 所作的分离式签名（CMS）",
        "Detached CMS signature over evidence.json by the server's seal certificate",
    ),
    "archive.file.events": _m(
        "봉인 때까지의 이벤트 기록(해시 체인)",
        "截至封存的事件日志（哈希链）",
        "The event log up to the seal (hash-chained)",
    ),
    "archive.file.completion": _m(
        "완료 확인서 (한국어·중국어·영어)",
        "完成证明（韩文、中文、英文）",
        "The certificate of completion (ko / zh / en)",
    ),
    "archive.file.ca": _m("서명식 루트 인증서", "仪式根证书", "The ceremony's root CA certificate"),
    "archive.file.tsa": _m(
        "시점 확인 기관(TSA) 인증서", "时间戳机构（TSA）证书", "The time-stamping authority's certificate"
    ),
    "archive.file.seal": _m("봉인 인증서", "封印证书", "The seal certificate"),
    "archive.file.verify": _m(
        "각 부분을 표준 도구로 확인하는 명령", "用标准工具逐项核验的命令", "The standard commands that check each part"
    ),
    "archive.file.chain": _m(
        "발급 인증기관 인증서 (루트와 각 인증서 사이)",
        "签发机构证书（根证书与各证书之间）",
        "The issuing CA's certificate, between the root and each certificate",
    ),
    "archive.file.tsa_ca": _m(
        "외부 TSA의 인증기관 인증서 (별도로 받은 것과 비교한 뒤에만 신뢰)",
        "外部时间戳机构的 CA 证书（须与另行取得的核对后才可信任）",
        "The external TSA's CA certificate (trust it only after comparing it with one obtained separately)",
    ),
    "archive.file.crl": _m(
        "인증서 폐기 목록(CRL): 봉인 또는 갱신 시점의 상태",
        "证书吊销列表（CRL）：封存或续期时的状态",
        "A certificate revocation list (CRL), as it stood at the seal or a renewal",
    ),
    "archive.file.signature_value": _m(
        "PDF 서명 값 (타임스탬프가 덮는 바이트)",
        "PDF 签名值（时间戳所覆盖的字节）",
        "A PDF signature's value (the bytes its timestamps cover)",
    ),
    "archive.file.signature_tsr": _m(
        "PDF 서명 값에 대한 RFC 3161 타임스탬프",
        "PDF 签名值的 RFC 3161 时间戳",
        "An RFC 3161 timestamp over a PDF signature's value",
    ),
    "archive.file.renewal": _m(
        "갱신 기록: 그 전의 모든 파일 목록과 해시",
        "续期记录：此前所有文件的清单与哈希",
        "A renewal: the list and hashes of every file before it",
    ),
    "archive.file.renewal_tsr": _m(
        "갱신 기록에 대한 보관용 타임스탬프",
        "续期记录的存档时间戳",
        "The archive timestamp over a renewal",
    ),
    "archive.hashes": _m("기록에 적힌 해시와 지문", "档案记载的哈希值与指纹", "Hashes and fingerprints in the record"),
    "archive.hashes_help": _m(
        "evidence.json에 적힌 값입니다. 검증하면 각 값이 실제 파일과 맞는지 확인합니다.",
        "以下数值取自 evidence.json；验证时会逐一核对是否与实际文件相符。",
        "As written in evidence.json; verifying checks each one against the files.",
    ),
    "archive.hash.original": _m("원본 PDF", "原始 PDF", "Original PDF"),
    "archive.hash.signed": _m("서명된 PDF", "已签署 PDF", "Signed PDF"),
    "archive.hash.log": _m("이벤트 기록의 마지막 해시", "事件日志末条哈希", "Event log head"),
    "archive.hash.log_value": _m("이벤트 {n}개", "共 {n} 条事件", "{n} events"),
    "archive.hash.root_ca": _m("루트 인증서", "根证书", "Root CA"),
    "archive.hash.seal": _m("봉인 인증서", "封印证书", "Seal certificate"),
    "archive.hash.tsa": _m("TSA 인증서", "TSA 证书", "TSA certificate"),
    "archive.signatories": _m("서명자", "签署人", "Signatories"),
    "archive.col.signatory": _m("서명자", "签署人", "Signatory"),
    "archive.col.venue": _m("회의장", "会场", "Venue"),
    "archive.col.status": _m("결과", "结果", "Outcome"),
    "archive.col.time": _m("TSA 확인 시각", "TSA 认证时间", "Time (TSA)"),
    "archive.col.certificate": _m("인증서 지문", "证书指纹", "Certificate"),
    "archive.status.signed": _m("서명함", "已签署", "Signed"),
    "archive.status.declined": _m("거부함", "已拒绝", "Declined"),
    "archive.status.absent": _m("불참", "缺席", "Absent"),
    "archive.unreadable": _m(
        "기록 파일에서 evidence.json을 읽을 수 없습니다. 검증하면 무엇이 잘못되었는지 알 수 있습니다.",
        "无法从档案文件中读取 evidence.json。验证后可查明问题所在。",
        "evidence.json could not be read from the record; verify it to see what is wrong.",
    ),
    "verify.title": _m("기록 검증", "验证档案", "Verify a record"),
    "verify.lead": _m(
        "봉인된 서명식 기록(zip)의 모든 서명과 타임스탬프, 봉인, 이벤트 기록을 확인합니다. 링크가 필요 없으며 "
        "올린 파일은 저장되지 않습니다.",
        "核验已封存仪式档案（zip）中的全部签名、时间戳、封印和事件日志。无需链接，上传的文件不会被保存。",
        "Checks every signature and timestamp, the seal and the event log of a sealed ceremony record (zip). "
        "No link is needed, and the file is not kept.",
    ),
    "verify.choose": _m("기록 파일 선택", "选择档案文件", "Choose the record file"),
    "verify.drop": _m(
        "또는 record.zip 파일을 여기에 끌어다 놓으십시오", "或将 record.zip 拖放到这里", "or drop record.zip here"
    ),
    "verify.limit": _m("최대 {size}", "最大 {size}", "Up to {size}"),
    "verify.report": _m("검증 결과", "验证结果", "Report"),
    "verify.root_ca": _m(
        "검사가 믿은 루트 인증서의 지문 (SHA-256)",
        "本次检查所信任根证书的指纹（SHA-256）",
        "Fingerprint of the root CA the checks trusted (SHA-256)",
    ),
    "verify.compare": _m(
        "이 값을 다른 경로로 알고 있는 지문과 대조하십시오. 같을 때에만 그 서명식의 기록입니다.",
        "请将此值与您从其他途径得知的指纹比对；两者一致，才能确认是该仪式的档案。",
        "Compare it with a fingerprint you know from elsewhere: only if they match is this that ceremony's record.",
    ),
    "verify.col.result": _m("결과", "结果", "Result"),
    "verify.col.check": _m("검사 항목", "检查项", "Check"),
    "verify.col.subject": _m("대상", "对象", "Subject"),
    "verify.col.detail": _m("내용", "详情", "Detail"),
    "verify.trust_title": _m("루트 인증서 지문을 대조하십시오", "请核对根证书指纹", "Compare the root CA fingerprint"),
    "verify.trust_body": _m(
        "검증은 이 서버의 루트 인증서(또는 위에 적은 지문의 루트)만 믿습니다. 기록 안의 ca.pem은 믿지 않습니다. "
        "‘통과’는 그 루트를 믿는다면 기록이 온전하다는 뜻이니, 결과의 지문을 다른 경로로 알고 있는 값(서명식 때 "
        "받은 값, 양측이 공개한 값)과 대조하십시오.",
        "验证只信任本服务器的根证书（或上方填写指纹的根证书），不信任档案内的 ca.pem。“通过”表示：若信任该根证书，"
        "档案即完整无损。请将结果中的指纹与您从其他途径得知的值（仪式时取得的值、双方公布的值）比对。",
        "The check trusts only this server's root CA (or the root whose fingerprint you give above), never the "
        "ca.pem inside the record. PASS means “intact, if you trust that root”: compare its fingerprint in the "
        "report with one you know from elsewhere (given to you at the ceremony, or published by the parties).",
    ),
    "verify.trust_label": _m(
        "믿을 루트 인증서 지문 (비워 두면 이 서버의 것)",
        "要信任的根证书指纹（留空则为本服务器的根证书）",
        "Root CA fingerprint to trust (empty: this server's)",
    ),
    "verify.trust_help": _m(
        "이 서버의 루트: {fingerprint}. 다른 서버의 기록이면 그 서명식의 지문(SHA-256, 16진수 64자)을 적으십시오.",
        "本服务器的根证书：{fingerprint}。若是其他服务器的档案，请填写该仪式的指纹（SHA-256，64 位十六进制）。",
        "This server's root: {fingerprint}. For another server's record, give that ceremony's fingerprint "
        "(SHA-256, 64 hexadecimal digits).",
    ),
    "verify.at_label": _m("검증 기준일 (비워 두면 지금)", "验证基准日（留空则为现在）", "Verify as of (empty: now)"),
    "verify.at_help": _m(
        "기록이 그날에도 유효한지 확인합니다 (예: 20년 뒤). 날짜는 UTC 0시로 봅니다.",
        "检查档案在该日是否依然有效（例如 20 年后）。日期按 UTC 零时计。",
        "Checks that the record is still valid on that day (20 years on, say). The date is taken at 00:00 UTC.",
    ),
    "verify.offline_more": _m(
        "또는 zip 안의 VERIFY.txt에 적힌 openssl 명령을 쓰십시오.",
        "也可使用 zip 内 VERIFY.txt 所列的 openssl 命令。",
        "Or use the openssl commands listed in VERIFY.txt inside the zip.",
    ),
    "js.verify.uploading": _m(
        "올리는 중… {percent}% ({done} / {total})",
        "正在上传… {percent}%（{done} / {total}）",
        "Uploading… {percent}% ({done} of {total})",
    ),
    "js.verify.checking": _m(
        "검증하는 중… (몇 초 걸릴 수 있습니다)",
        "正在验证…（可能需要几秒钟）",
        "Checking… (this can take a few seconds)",
    ),
    "js.verify.too_large": _m(
        "{name} 파일은 {size}로 이 서버의 한도 {limit}를 넘습니다. 오프라인으로 검증하십시오.",
        "文件 {name} 为 {size}，超过本服务器 {limit} 的上限，请离线验证。",
        "{name} is {size}, over this server's {limit} limit; verify it offline.",
    ),
    "js.verify.one_file": _m("파일은 하나만 놓아 주십시오.", "请只拖放一个文件。", "Drop one file only."),
    "js.verify.failed": _m(
        "이 파일은 검증할 수 없습니다: {reason}", "无法验证此文件：{reason}", "This file cannot be checked: {reason}"
    ),
    "js.verify.all_passed": _m(
        "검사 {n}개를 모두 통과했습니다.", "全部 {n} 项检查均已通过。", "All {n} checks passed."
    ),
    "js.verify.some_failed": _m(
        "검사 {total}개 중 {failed}개가 실패했습니다. 이 기록은 그대로 믿을 수 없습니다. "
        "실패한 항목을 먼저 보여 드립니다.",
        "{total} 项检查中有 {failed} 项未通过，此档案不可直接信赖。未通过的项目列在最前。",
        "{failed} of {total} checks failed: the record cannot be relied on as it is. Failures are listed first.",
    ),
    "js.verify.no_checks": _m(
        "검사할 수 있는 항목이 없었습니다.", "没有可检查的项目。", "There was nothing the verifier could check."
    ),
    "js.verify.pass": _m("통과", "通过", "PASS"),
    "js.verify.fail": _m("실패", "未通过", "FAIL"),
    "js.verify.ceremony": _m(
        "기록에 적힌 서명식: {title} ({id})",
        "档案所载仪式：{title}（{id}）",
        "Ceremony named in the record: {title} ({id})",
    ),
    "js.verify.bad_fingerprint": _m(
        "루트 인증서 지문은 16진수 64자(SHA-256)입니다. 콜론과 공백은 빼도 됩니다.",
        "根证书指纹应为 64 位十六进制数（SHA-256），可省略冒号和空格。",
        "A root CA fingerprint is 64 hexadecimal digits (SHA-256); colons and spaces may be left out.",
    ),
    "js.verify.as_of": _m("기준 시각 {time} (UTC).", "基准时间 {time}（UTC）。", "As of {time} (UTC)."),
    "js.verify.under_ours": _m(
        "이 서버의 루트 인증서를 믿고 검사했습니다.",
        "以本服务器的根证书为信任锚进行检查。",
        "Checked under this server's root CA.",
    ),
    "js.verify.under_named": _m(
        "지정한 지문의 루트 인증서를 믿고 검사했습니다.",
        "以您填写指纹的根证书为信任锚进行检查。",
        "Checked under the root CA you named.",
    ),
    "js.verify.not_a_record": _m(
        "서명식 기록이 아닙니다: {reason}", "这不是仪式档案：{reason}", "This is not a ceremony record: {reason}"
    ),
    "js.verify.busy": _m(
        "검증기가 다른 기록을 검사하고 있습니다. 잠시 뒤 다시 시도하십시오.",
        "验证器正在检查其他档案，请稍后重试。",
        "The verifier is busy with other records; try again in a moment.",
    ),
    "js.verify.too_large_server": _m(
        "파일이 이 서버가 검사하는 한도보다 큽니다. ceremony verify로 오프라인 검증하십시오.",
        "文件超过本服务器的检查上限，请用 ceremony verify 离线验证。",
        "The file is larger than this server checks; verify it offline with ceremony verify.",
    ),
    "js.verify.encoding": _m(
        "압축하지 않은 zip 파일 그대로 보내야 합니다.",
        "请直接发送 zip 文件本身，不要另行压缩。",
        "Send the zip file itself, without compressing it again.",
    ),
    "js.verify.bad_request": _m(
        "요청이 올바르지 않습니다: {reason}", "请求有误：{reason}", "The request was not accepted: {reason}"
    ),
    "js.verify.no_fingerprint": _m(
        "기록에 읽을 수 있는 ca.pem이 없습니다.", "档案中没有可读取的 ca.pem。", "The record has no readable ca.pem."
    ),
}
