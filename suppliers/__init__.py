"""Suppliers: profiles, SME declarations (中小企业声明函), storefronts, 特色馆 qualification."""
