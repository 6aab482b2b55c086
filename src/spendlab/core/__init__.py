"""Vocabulary shared by every domain: metric glossary, money, date ranges, hierarchy levels.

Nothing here touches data frames or databases; it only names things.
"""
