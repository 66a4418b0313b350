"""Personal data masking."""

from __future__ import annotations

import pandas as pd

from data_access.privacy import mask_address, mask_name, mask_personal, mask_phone


def test_names():
    assert mask_name("张伟") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name(None) is None


def test_phones():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("138-1234-5678") == "138****5678"
    assert mask_phone("0571-88001234") == "********1234"
    assert mask_phone(None) is None


def test_addresses_keep_the_road_and_hide_the_door():
    assert mask_address("拱墅区莫干山路123号5幢") == "拱墅区莫干山路***"
    assert mask_address("云上澜苑3幢2单元501") == "云上澜苑***"
    assert "501" not in mask_address("某处501室")
    assert (
        mask_address("杭州市钱塘区河庄街道云上澜苑3幢2单元501") == "杭州市钱塘区河庄街道云上澜苑***"
    )
    assert mask_address("文三路90号东部软件园1号楼") == "文三路**号东部软件园***"


def test_frame_masking_leaves_other_columns():
    frame = pd.DataFrame(
        {
            "id": ["a"],
            "reporter_name": ["王芳"],
            "reporter_phone": ["13900001111"],
            "address": ["文晖路8号"],
        }
    )
    masked = mask_personal(frame)
    assert masked.iloc[0].to_dict() == {
        "id": "a",
        "reporter_name": "王*",
        "reporter_phone": "139****1111",
        "address": "文晖路***",
    }
    assert frame.iloc[0]["reporter_name"] == "王芳"
