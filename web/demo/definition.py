"""The demo ceremony: the Gangwon-Nanjing online export MOU of 29 May 2020.

It reproduces the event reported in seed/000_a69bb7b45a8a6710.txt: on Friday
2020-05-29 at 10:20 KST (09:20 CST) Gangwon Province, Gangwon Export Co., Ltd.
and the Gangwon Cosmetics Association, in the Sky Convention hall in Chuncheon,
and the City of Nanjing, the Nanjing E-commerce Association and "가의현 그룹"
(Jiayi Group), in the Suning Novotel in Nanjing, signed an export MOU over a
video link. The venues, parties, time and the plan in the articles come from
the article; everything else is ours:

- Names not in the article: the Chinese 嘉谊集团 (Jiayi Group; the article
  gives only the Korean 가의현 그룹), 江原出口株式会社, 江原道化妆品协会,
  天空会展中心二层会议厅 and 苏宁诺富特酒店中华厅B; the Korean 남경시 인민정부;
  and every English name and translation.
- Signatory names are plainly illustrative, the stock placeholder names of
  each language: 홍길동 (洪吉童), 김철수 (金哲洙), 이영희 (李英姬) for Gangwon;
  张三 (장싼), 李四 (리쓰), 王五 (왕우) for Nanjing. Their titles (Governor,
  Mayor, Chief Executive, President, Chairman) are plausible, not reported.
- The MOU text is our drafting in all three languages; the article reports
  only the plan the articles follow, not the signed text.
"""

from __future__ import annotations

import copy
from typing import Any

from ceremony.definition import parse_definition
from ceremony.model import CeremonyDefinition


def _t(ko: str, zh: str, en: str) -> dict[str, str]:
    return {"ko": ko, "zh": zh, "en": en}


def _lines(*paragraphs: str) -> str:
    """Numbered paragraphs of one article body, one per line."""
    return "\n".join(paragraphs)


_VENUES: list[dict[str, Any]] = [
    {
        "id": "chuncheon",
        "name": _t("스카이컨벤션 2층 컨벤션홀", "天空会展中心二层会议厅", "Sky Convention, 2F Convention Hall"),
        "city": _t("춘천", "春川", "Chuncheon"),
        "country": "KR",
        "timezone": "Asia/Seoul",
    },
    {
        "id": "nanjing",
        "name": _t("쑤닝 노보텔 중화청 B", "苏宁诺富特酒店中华厅B", "Suning Novotel, Zhonghua Hall B"),
        "city": _t("남경", "南京", "Nanjing"),
        "country": "CN",
        "timezone": "Asia/Shanghai",
    },
]

_PARTIES: list[dict[str, Any]] = [
    {"id": "gangwon-province", "name": _t("강원도", "江原道", "Gangwon Province"), "country": "KR"},
    {
        "id": "gangwon-export",
        "name": _t("㈜강원수출", "江原出口株式会社", "Gangwon Export Co., Ltd."),
        "country": "KR",
    },
    {
        "id": "gangwon-cosmetics",
        "name": _t("강원도화장품협회", "江原道化妆品协会", "Gangwon Cosmetics Association"),
        "country": "KR",
    },
    {
        "id": "nanjing-government",
        "name": _t("남경시 인민정부", "南京市人民政府", "Nanjing Municipal Government"),
        "country": "CN",
    },
    {
        "id": "nanjing-ecommerce",
        "name": _t("남경시 전자상거래협회", "南京市电子商务协会", "Nanjing E-commerce Association"),
        "country": "CN",
    },
    # 嘉谊集团 is our choice: the article names the company only in Korean.
    {"id": "jiayi-group", "name": _t("가의현 그룹", "嘉谊集团", "Jiayi Group"), "country": "CN"},
]

_SIGNATORIES: list[dict[str, Any]] = [
    {
        "id": "gangwon-governor",
        "name": _t("홍길동", "洪吉童", "Hong Gil-dong"),
        "title": _t("강원도지사", "江原道知事", "Governor of Gangwon Province"),
        "party": "gangwon-province",
        "venue": "chuncheon",
    },
    {
        "id": "gangwon-export-ceo",
        "name": _t("김철수", "金哲洙", "Kim Cheol-su"),
        "title": _t("대표이사", "代表理事", "Chief Executive Officer"),
        "party": "gangwon-export",
        "venue": "chuncheon",
    },
    {
        "id": "gangwon-cosmetics-president",
        "name": _t("이영희", "李英姬", "Lee Young-hee"),
        "title": _t("회장", "会长", "President"),
        "party": "gangwon-cosmetics",
        "venue": "chuncheon",
    },
    {
        "id": "nanjing-mayor",
        "name": _t("장싼", "张三", "Zhang San"),
        "title": _t("남경시장", "南京市市长", "Mayor of Nanjing"),
        "party": "nanjing-government",
        "venue": "nanjing",
    },
    {
        "id": "nanjing-ecommerce-president",
        "name": _t("리쓰", "李四", "Li Si"),
        "title": _t("회장", "会长", "President"),
        "party": "nanjing-ecommerce",
        "venue": "nanjing",
    },
    {
        "id": "jiayi-chairman",
        "name": _t("왕우", "王五", "Wang Wu"),
        "title": _t("회장", "董事长", "Chairman"),
        "party": "jiayi-group",
        "venue": "nanjing",
    },
]

_RUN_OF_SHOW: list[dict[str, Any]] = [
    {
        "id": "opening",
        "kind": "opening",
        "title": _t("개회 및 참석자 소개", "开幕及介绍与会嘉宾", "Opening and introduction of participants"),
        "minutes": 5,
    },
    {
        "id": "remarks",
        "kind": "remarks",
        "title": _t("양측 대표 인사말", "双方代表致辞", "Remarks by both sides"),
        "minutes": 10,
    },
    {
        "id": "signing",
        "kind": "signing",
        "title": _t("양해각서 서명", "签署谅解备忘录", "Signing of the memorandum"),
        "minutes": 20,
    },
    {
        "id": "exchange",
        "kind": "exchange",
        "title": _t("서명본 교환 및 기념 촬영", "交换签署文本并合影留念", "Exchange of signed copies and photographs"),
        "minutes": 10,
    },
    {
        "id": "closing",
        "kind": "closing",
        "title": _t("폐회", "闭幕", "Closing"),
        "minutes": 5,
    },
]

_PREAMBLE = _t(
    ko="\n\n".join(
        (
            "대한민국 강원도, ㈜강원수출 및 강원도화장품협회(이하 통칭하여 “강원 측”이라 한다)와 "
            "중화인민공화국 남경시 인민정부, 남경시 전자상거래협회 및 가의현 그룹(이하 통칭하여 “남경 측”이라 하며, "
            "강원 측과 남경 측의 여섯 기관을 “참여기관”이라 한다)은,",
            "코로나19의 확산으로 국내외 전시회·박람회와 바이어 초청 상담회 등 대면 수출마케팅이 취소되거나 "
            "연기되고, 비대면(언택트) 교역과 소비로의 전환이 가속화되고 있음을 인식하고,",
            "온라인 스트리밍 방송을 통한 쇼핑을 포함한 중국 전자상거래 시장의 빠른 성장과, 크로스보더(콰징) "
            "전자상거래가 강원도의 중소 수출기업에 주는 기회에 주목하며,",
            "코로나19 이후에도 강원도 제품이 중국 소비자에게 닿을 수 있는 비대면 수출 경로를 열고, "
            "강원도와 남경시 간의 우호 교류를 한층 심화하기를 희망하여,",
            "다음과 같이 양해한다.",
        )
    ),
    zh="\n\n".join(
        (
            "大韩民国江原道、江原出口株式会社、江原道化妆品协会（以下合称“江原方”）与中华人民共和国南京市人民政府、"
            "南京市电子商务协会、嘉谊集团（以下合称“南京方”；江原方与南京方的六家机构以下合称“各参与方”），",
            "认识到新冠肺炎疫情导致国内外展会、博览会及采购商洽谈会等面对面出口营销活动被取消或推迟，"
            "并加速了贸易与消费向非接触方式的转变；",
            "注意到包括网络直播购物在内的中国电子商务市场的快速增长，以及跨境电子商务为江原道中小出口企业带来的机遇；",
            "希望开辟在新冠肺炎疫情之后依然畅通的非接触式出口渠道，使江原道产品进入中国消费者手中，"
            "并进一步深化江原道与南京市之间的友好交流，",
            "达成谅解如下：",
        )
    ),
    en="\n\n".join(
        (
            "Gangwon Province, Gangwon Export Co., Ltd. and the Gangwon Cosmetics Association, of the Republic of "
            "Korea (together the “Gangwon Side”), and the Nanjing Municipal Government, the Nanjing E-commerce "
            "Association and Jiayi Group, of the People’s Republic of China (together the “Nanjing Side”; the six "
            "organisations of both Sides together the “Participants”),",
            "Recognising that the COVID-19 pandemic has caused trade fairs, exhibitions and buyer meetings in Korea "
            "and abroad to be cancelled or postponed, and has accelerated the shift of trade and consumption to "
            "non-face-to-face (“untact”) channels;",
            "Noting the rapid growth of China’s e-commerce market, including shopping through live-streamed "
            "broadcasts, and the opportunities that cross-border (“kuajing”) e-commerce offers to small and "
            "medium-sized exporters of Gangwon Province;",
            "Desiring to open a non-face-to-face export channel through which products of Gangwon Province reach "
            "consumers in China during and after the pandemic, and to deepen the friendly exchange between Gangwon "
            "Province and the City of Nanjing;",
            "Have reached the following understanding:",
        )
    ),
)

_ARTICLES: list[dict[str, Any]] = [
    {
        "title": _t("목적", "目的", "Purpose"),
        "body": _t(
            ko="이 양해각서는 참여기관이 크로스보더 전자상거래 등 비대면 경로를 통하여 강원도 제품을 중국에서 "
            "판매하기 위하여 협력하는 기본 틀을 정하고, 포스트 코로나 시대 강원도 기업의 수출 활동을 지원하며, "
            "강원도와 남경시 간의 경제 교류를 증진하는 것을 목적으로 한다.",
            zh="本备忘录旨在确立各参与方通过跨境电子商务等非接触渠道在中国销售江原道产品的合作框架，"
            "支持江原道企业在后疫情时代开展出口活动，并促进江原道与南京市之间的经济交流。",
            en="The purpose of this Memorandum is to set out the framework within which the Participants will "
            "cooperate to sell products of Gangwon Province in China through cross-border e-commerce and other "
            "non-face-to-face channels, to support the export activities of companies of Gangwon Province in the "
            "post-COVID-19 era, and to promote economic exchange between Gangwon Province and the City of Nanjing.",
        ),
    },
    {
        "title": _t("콰징 전자상거래 활성화(1.0 버전)", "跨境电子商务1.0版", "Cross-Border (Kuajing) E-Commerce 1.0"),
        "body": _t(
            ko=_lines(
                "1. 참여기관은 2020년 중 중국의 크로스보더 전자상거래 소매수입 제도를 통하여 강원도 제품을 중국 "
                "소비자에게 판매하는 콰징 전자상거래 1단계(“1.0 버전”)를 공동으로 추진한다.",
                "2. ㈜강원수출은 강원도와 강원도화장품협회의 지원을 받아 도내 기업의 수출 창구로서 상품 선정, "
                "주문 취합 및 선적을 맡는다.",
                "3. 남경시 인민정부와 남경시 전자상거래협회는 각자의 권한 범위에서 시장 정보 제공, 전자상거래 "
                "플랫폼 및 서비스 기업 소개, 남경시 내 행정 안내를 지원한다.",
            ),
            zh=_lines(
                "1. 各参与方将于2020年内共同推进跨境电子商务第一阶段（1.0版），"
                "通过中国跨境电子商务零售进口渠道向中国消费者销售江原道产品。",
                "2. 江原出口株式会社在江原道及江原道化妆品协会的支持下，作为江原道企业的出口窗口，"
                "负责产品遴选、订单汇总及装运安排。",
                "3. 南京市人民政府和南京市电子商务协会在各自职权范围内，协助提供市场信息，"
                "推介电子商务平台及服务企业，并在南京市内提供行政指导。",
            ),
            en=_lines(
                "1. During 2020 the Participants will jointly carry out a first phase (“version 1.0”) of cross-border "
                "e-commerce, through which products of Gangwon Province are sold to consumers in China under "
                "China’s cross-border e-commerce retail import arrangements.",
                "2. Gangwon Export Co., Ltd., supported by Gangwon Province and the Gangwon Cosmetics Association, "
                "will act as the export window for companies of the province, selecting products, consolidating "
                "orders and arranging shipment.",
                "3. The Nanjing Municipal Government and the Nanjing E-commerce Association will, within their "
                "respective competence, provide market information, introduce e-commerce platforms and service "
                "providers, and give administrative guidance in Nanjing.",
            ),
        ),
    },
    {
        "title": _t("강원도 화장품 수출 선적", "江原道化妆品出口装运", "Export Shipment of Gangwon Cosmetics"),
        "body": _t(
            ko=_lines(
                "1. 참여기관은 이 양해각서 체결 후 2020년 6월 중 약 60억 원 규모의 강원도산 화장품이 중국으로 "
                "수출 선적될 수 있도록 협력한다.",
                "2. 강원도화장품협회는 회원사와 제품을 추천하고, ㈜강원수출은 선적을 총괄하며, 가의현 그룹은 "
                "중국 내 판매 경로와 유통을 지원한다.",
                "3. 제1항의 금액은 목표이며, 실제 수량, 가격 및 거래 조건은 관련 기업 간의 별도 계약으로 정한다.",
            ),
            zh=_lines(
                "1. 本备忘录签署后，各参与方将开展合作，"
                "力争于2020年6月内实现价值约60亿韩元的江原道产化妆品对华出口装运。",
                "2. 江原道化妆品协会负责推荐会员企业及产品，江原出口株式会社负责统筹装运，"
                "嘉谊集团协助拓展在华销售渠道及流通配送。",
                "3. 第1款所列金额为目标值，实际数量、价格及交易条件由相关企业另行签订合同确定。",
            ),
            en=_lines(
                "1. Following the signing of this Memorandum, the Participants will cooperate so that cosmetics "
                "made in Gangwon Province to a value of about KRW 6 billion are shipped for export to China in "
                "June 2020.",
                "2. The Gangwon Cosmetics Association will recommend member companies and products, Gangwon Export "
                "Co., Ltd. will coordinate the shipment, and Jiayi Group will support sales channels and "
                "distribution in China.",
                "3. The value in paragraph 1 is a target; actual quantities, prices and terms of trade will be set "
                "by separate contracts between the companies concerned.",
            ),
        ),
    },
    {
        "title": _t("티몰 강원도 전용 쇼핑몰", "天猫江原道专属店铺", "Gangwon Province Mall on Tmall"),
        "body": _t(
            ko=_lines(
                "1. 가의현 그룹과 ㈜강원수출은 공동 운영팀을 구성하고 온라인 앱을 개발하여, 2020년 8월까지 "
                "중국 최대의 전자상거래몰인 티몰(Tmall)에 강원도 제품 전용 쇼핑몰을 개설한다.",
                "2. 운영팀은 플랫폼 규정과 관계 법령에 따라 상품 등록, 고객 응대, 마케팅 및 판매 대금 정산을 맡는다.",
                "3. 강원도는 도내 기업의 입점을 장려하고 국내에서 전용 쇼핑몰을 홍보한다.",
            ),
            zh=_lines(
                "1. 嘉谊集团与江原出口株式会社将组建联合运营团队并开发线上应用程序，"
                "于2020年8月底前在中国最大的电子商务平台天猫开设江原道产品专属店铺。",
                "2. 运营团队依照平台规则及相关法律法规，负责商品上架、客户服务、市场营销及销售货款结算。",
                "3. 江原道鼓励道内企业入驻该店铺，并在韩国国内进行宣传推广。",
            ),
            en=_lines(
                "1. Jiayi Group and Gangwon Export Co., Ltd. will form a joint operating team and develop an online "
                "application so that a mall dedicated to products of Gangwon Province opens on Tmall, China’s "
                "largest e-commerce marketplace, by August 2020.",
                "2. The operating team will handle product listing, customer service, marketing and the settlement "
                "of sales in accordance with the rules of the platform and the applicable laws.",
                "3. Gangwon Province will encourage companies of the province to sell in the mall and will publicise "
                "it in Korea.",
            ),
        ),
    },
    {
        "title": _t(
            "슈퍼 왕홍 라이브커머스 프로모션",
            "超级网红直播带货推广",
            "“Super Wanghong” Live-Commerce Promotions",
        ),
        "body": _t(
            ko=_lines(
                "1. 가의현 그룹과 강원 측은 2020년 6월과 10월 두 차례에 걸쳐 중국의 대표적인 인터넷 인플루언서"
                "(“슈퍼 왕홍”)가 참여하는 라이브커머스 프로모션을 공동으로 개최한다.",
                "2. 프로모션은 화장품, 의료기기 등 강원도의 전략 품목을 중심으로 하며, 실시간 스트리밍 방송으로 "
                "판매 행사를 진행한다.",
                "3. 남경시 전자상거래협회는 적합한 인플루언서와 방송 협력사의 발굴을 지원한다.",
            ),
            zh=_lines(
                "1. 嘉谊集团与江原方将于2020年6月和10月联合举办两场"
                "由中国知名网络红人（“超级网红”）参与的直播带货推广活动。",
                "2. 推广活动以化妆品、医疗器械等江原道战略产品为重点，通过网络直播进行实时销售。",
                "3. 南京市电子商务协会协助遴选合适的网红及直播合作机构。",
            ),
            en=_lines(
                "1. Jiayi Group and the Gangwon Side will jointly hold two live-commerce promotions with leading "
                "Chinese online influencers (“super wanghong”), in June and in October 2020.",
                "2. The promotions will feature strategic products of Gangwon Province, in particular cosmetics and "
                "medical devices, sold in real time during live-streamed broadcasts.",
                "3. The Nanjing E-commerce Association will help find suitable influencers and broadcasting partners.",
            ),
        ),
    },
    {
        "title": _t(
            "남경 O2O 상품체험관",
            "南京O2O产品体验馆",
            "Gangwon O2O Product Experience Hall in Nanjing",
        ),
        "body": _t(
            ko=_lines(
                "1. 남경 측은 강원 측이 2020년 10월까지 남경시 전자상거래 종합보세구역 안에, 소비자가 상품을 "
                "매장에서 직접 체험하고 온라인으로 주문할 수 있는 강원도 O2O(온라인·오프라인 연계) 상품체험관을 "
                "입점할 수 있도록 지원한다.",
                "2. 체험관의 위치, 면적, 비용 및 운영 방식은 관련 참여기관 간에 별도로 협의하여 정한다.",
            ),
            zh=_lines(
                "1. 南京方将协助江原方于2020年10月底前在南京市电子商务综合保税区内开设江原道O2O"
                "（线上线下融合）产品体验馆，供消费者在店内体验产品并在线上下单。",
                "2. 体验馆的选址、面积、费用及运营方式由相关参与方另行协商确定。",
            ),
            en=_lines(
                "1. The Nanjing Side will assist the Gangwon Side in opening, by October 2020, a Gangwon Province "
                "online-to-offline (O2O) product experience hall in Nanjing’s comprehensive bonded zone for "
                "e-commerce, where consumers can try products in person and order them online.",
                "2. The location, floor area, costs and operation of the hall will be agreed separately between the "
                "Participants concerned.",
            ),
        ),
    },
    {
        "title": _t(
            "온라인 화상 수출상담 및 바이어 매칭",
            "线上视频出口洽谈及采购商对接",
            "Online Export Consultations and Buyer Matching",
        ),
        "body": _t(
            ko=_lines(
                "1. 참여기관은 강원도 기업과 중국 바이어 간의 온라인 화상 수출상담을 정기적으로 주선하고, "
                "여건에 따라 온라인 수출상담회를 개최한다.",
                "2. 남경시 전자상거래협회와 가의현 그룹은 바이어, 플랫폼 및 유통사를 추천하고, 강원 측은 참가 "
                "기업을 선정하며 화상상담에 필요한 통역과 기술을 지원한다.",
                "3. 참여기관은 이후의 매칭 성과를 높이기 위하여 상담 결과를 서로 공유한다.",
            ),
            zh=_lines(
                "1. 各参与方将定期组织江原道企业与中国采购商之间的线上视频出口洽谈，并视情况举办线上出口洽谈会。",
                "2. 南京市电子商务协会与嘉谊集团负责推荐采购商、电子商务平台及经销商；"
                "江原方负责遴选参与企业，并为视频洽谈提供翻译和技术支持。",
                "3. 各参与方相互通报每次洽谈的结果，以提高后续对接的成效。",
            ),
            en=_lines(
                "1. The Participants will regularly arrange online video export consultations between companies of "
                "Gangwon Province and buyers in China, and will hold online export fairs as circumstances allow.",
                "2. The Nanjing E-commerce Association and Jiayi Group will recommend buyers, platforms and "
                "distributors; the Gangwon Side will select the participating companies and provide interpreting "
                "and technical support for the video sessions.",
                "3. The Participants will share the results of each consultation so as to improve later matching.",
            ),
        ),
    },
    {
        "title": _t(
            "한중 통관·물류 플랫폼(2.0 버전)",
            "中韩通关物流平台（2.0版）",
            "Korea-China Customs Clearance and Logistics Platform (Version 2.0)",
        ),
        "body": _t(
            ko=_lines(
                "1. 참여기관은 협력의 2단계(“2.0 버전”)로서 강원도의 판매자, 남경의 보세창고 및 중국 소비자를 "
                "연결하는 한중 콰징 전자상거래 통관·물류 플랫폼의 구축을 검토하고 추진한다.",
                "2. 참여기관은 통관, 검역, 표시 및 물류 요건에 관한 정보를 교환하고, 필요한 경우 양국의 관계 "
                "당국과 협의한다.",
                "3. 플랫폼의 범위, 일정 및 재원은 별도의 약정으로 정한다.",
            ),
            zh=_lines(
                "1. 作为合作的第二阶段（2.0版），各参与方将研究并推进建设连接江原道卖家、南京保税仓库与"
                "中国消费者的中韩跨境电子商务通关物流平台。",
                "2. 各参与方就通关、检验检疫、标签及物流要求交换信息，并视需要与两国主管部门进行协商。",
                "3. 平台的范围、进度及资金安排另行约定。",
            ),
            en=_lines(
                "1. As the second phase of their cooperation (“version 2.0”), the Participants will study and work "
                "towards a Korea-China customs clearance and logistics platform for cross-border e-commerce that "
                "links sellers in Gangwon Province, bonded warehouses in Nanjing and consumers in China.",
                "2. The Participants will exchange information on customs, quarantine, labelling and logistics "
                "requirements and, where needed, consult the competent authorities of both countries.",
                "3. The scope, timetable and funding of the platform will be set out in a separate arrangement.",
            ),
        ),
    },
    {
        "title": _t("협력 체계 및 연락 창구", "合作机制及联络人", "Cooperation Mechanism and Contact Points"),
        "body": _t(
            ko=_lines(
                "1. 각 참여기관은 서명일부터 30일 이내에 연락 담당자를 지정하고, 변경이 있으면 다른 참여기관에 "
                "서면으로 알린다.",
                "2. 강원 측의 협력은 강원도 글로벌투자통상국이, 남경 측의 협력은 남경시 인민정부가 지정하는 "
                "부서가 총괄·조정한다.",
                "3. 참여기관은 연 2회 이상 온라인 또는 대면으로 실무 회의를 열어 추진 상황을 점검하고 이후의 "
                "사업을 협의한다.",
                "4. 서면으로 달리 합의하지 않는 한, 각 참여기관은 이 양해각서의 이행에 드는 자기 비용을 부담한다.",
            ),
            zh=_lines(
                "1. 各参与方将自签署之日起三十日内指定联络人，如有变更，将书面通知其他参与方。",
                "2. 江原方的合作由江原道全球投资通商局统筹协调，南京方的合作由南京市人民政府指定的部门统筹协调。",
                "3. 各参与方每年至少召开两次线上或线下工作会议，检查进展情况并商讨后续工作。",
                "4. 除另有书面约定外，各参与方自行承担其履行本备忘录所产生的费用。",
            ),
            en=_lines(
                "1. Each Participant will designate a contact point within thirty (30) days of signing and will "
                "notify the other Participants in writing of any change.",
                "2. Cooperation will be coordinated on the Gangwon Side by the Global Investment and Trade Bureau of "
                "Gangwon Province, and on the Nanjing Side by the department designated by the Nanjing Municipal "
                "Government.",
                "3. The Participants will hold a working meeting, online or in person, at least twice a year to "
                "review progress and plan further activities.",
                "4. Unless otherwise agreed in writing, each Participant will bear its own costs of carrying out "
                "this Memorandum.",
            ),
        ),
    },
    {
        "title": _t("효력, 기간, 성격 및 변경", "生效、期限、性质及修改", "Effect, Term, Nature and Amendment"),
        "body": _t(
            ko=_lines(
                "1. 이 양해각서는 모든 참여기관이 서명한 날부터 효력이 발생하며 2년간 유효하다. 어느 참여기관도 "
                "만료 3개월 전까지 서면으로 반대 의사를 통보하지 않으면 1년씩 자동으로 연장된다.",
                "2. 이 양해각서는 참여기관의 협력 의사를 확인하는 것으로서 법적 구속력이 있는 권리나 의무를 "
                "발생시키지 아니하며, 어느 참여기관에도 판매, 구매, 투자 또는 지출을 약속하게 하지 아니한다. "
                "이러한 약속은 별도의 서면 계약으로 한다.",
                "3. 이 양해각서는 모든 참여기관의 서면 동의로만 변경하거나 보완할 수 있다. 참여기관은 3개월 전에 "
                "서면으로 통보하여 탈퇴할 수 있으며, 이 경우 이 양해각서는 나머지 참여기관 사이에서 계속 유효하다.",
                "4. 참여기관은 각국 법령의 범위에서 이 양해각서를 이행하며, 그 해석이나 이행에 관한 이견은 "
                "상호 협의를 통하여 우호적으로 해결한다.",
            ),
            zh=_lines(
                "1. 本备忘录自各参与方全部签署之日起生效，有效期两年。如任何参与方均未在期满前三个月以书面形式"
                "提出异议，本备忘录自动延续一年，此后亦同。",
                "2. 本备忘录仅确认各参与方的合作意向，不产生具有法律约束力的权利或义务，亦不使任何参与方承担"
                "销售、采购、投资或支出的承诺；此类承诺须另行签订书面合同。",
                "3. 本备忘录经全体参与方书面同意方可修改或补充。任何参与方可提前三个月书面通知退出，"
                "本备忘录在其余参与方之间继续有效。",
                "4. 各参与方在本国法律法规允许的范围内执行本备忘录；对本备忘录的解释或执行如有分歧，"
                "将通过友好协商解决。",
            ),
            en=_lines(
                "1. This Memorandum takes effect on the date on which all Participants have signed it and remains "
                "in effect for two (2) years. It is extended automatically by one (1) year at a time unless a "
                "Participant notifies the others in writing of its objection at least three (3) months before it "
                "expires.",
                "2. This Memorandum records the Participants’ intention to cooperate. It does not create legally "
                "binding rights or obligations and does not commit any Participant to a sale, purchase, investment "
                "or expenditure; any such commitment requires a separate written contract.",
                "3. This Memorandum may be amended or supplemented only with the written consent of all "
                "Participants. A Participant may withdraw by giving three (3) months’ written notice, in which case "
                "this Memorandum remains in effect among the other Participants.",
                "4. The Participants will carry out this Memorandum within the laws and regulations of their "
                "respective countries and will settle any difference over its interpretation or implementation "
                "amicably through consultation.",
            ),
        ),
    },
]

_CLOSING = _t(
    ko="이상의 증거로, 각 소속 기관으로부터 정당한 권한을 위임받은 아래 서명자들은 2020년 5월 29일 강원 측은 "
    "대한민국 춘천에서, 남경 측은 중화인민공화국 남경에서 화상으로 연결하여 이 양해각서에 전자적으로 서명하였다. "
    "이 양해각서는 한국어, 중국어 및 영어로 작성된 하나의 전자문서로 체결되며, 각 언어본은 동등하게 정본이다. "
    "각 참여기관은 동일한 전자 사본을 한 부씩 받는다.",
    zh="下列签署人经各自机构正式授权，于2020年5月29日通过视频连线，江原方在大韩民国春川、南京方在中华人民共和国南京，"
    "以电子方式签署本备忘录，以昭信守。本备忘录以韩文、中文和英文写成，作为单一电子文件签署，三种文本同等作准。"
    "各参与方各获得一份相同的电子副本。",
    en="In witness whereof, the undersigned, duly authorised by their respective organisations, have signed this "
    "Memorandum electronically on 29 May 2020 over a video link, those of the Gangwon Side in Chuncheon, Republic of "
    "Korea, and those of the Nanjing Side in Nanjing, People’s Republic of China. This Memorandum is made as a single "
    "electronic document in the Korean, Chinese and English languages, all texts being equally authentic; each "
    "Participant receives an identical electronic copy.",
)

_PREVAILING = _t(
    ko="한국어본, 중국어본 및 영어본 사이에 해석상 차이가 있는 경우에는 영어본이 우선한다.",
    zh="韩文、中文和英文文本之间如在解释上出现分歧，以英文文本为准。",
    en="In case of any divergence of interpretation between the Korean, Chinese and English texts, the English text "
    "prevails.",
)

DEMO_DEFINITION: dict[str, Any] = {
    "title": _t(
        "강원도–남경시 온라인 수출 협약식",
        "江原道—南京市线上出口合作签约仪式",
        "Gangwon–Nanjing Online Export MOU Signing Ceremony",
    ),
    "schedule": {"start": "2020-05-29T10:20:00+09:00", "duration_minutes": 60},
    "venues": _VENUES,
    "parties": _PARTIES,
    "signatories": _SIGNATORIES,
    "run_of_show": _RUN_OF_SHOW,
    # The 2020 ceremony was held on camera; the demo records both halls into its evidence too.
    "recording": True,
    "document": {
        "title": _t(
            "강원도–중국 남경시 콰징 전자상거래 수출 협력에 관한 양해각서",
            "韩国江原道与中国南京市跨境电子商务出口合作谅解备忘录",
            "Memorandum of Understanding on Export Cooperation through Cross-Border (Kuajing) E-Commerce "
            "between Gangwon Province, Korea, and Nanjing, China",
        ),
        "preamble": _PREAMBLE,
        "articles": _ARTICLES,
        "closing": _CLOSING,
        "prevailing_language": "en",
        "prevailing_clause": _PREVAILING,
    },
}


def demo_definition() -> CeremonyDefinition:
    """The demo, parsed from a deep copy so that nothing returned aliases the module's mutable data."""
    return parse_definition(copy.deepcopy(DEMO_DEFINITION))
