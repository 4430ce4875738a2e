"""genrecls — the Streamlit entry point: page setup and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="genrecls — music genre, explained", page_icon="🎵", layout="wide")

pages = [
    st.Page("pages/classify.py", title="Classify", icon="🎧", url_path="classify", default=True),
    st.Page("pages/explore.py", title="Explore", icon="🔍", url_path="explore"),
    st.Page("pages/model.py", title="Model", icon="🧠", url_path="model"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
]
# Streamlit's automatic sidebar list is off (.streamlit/config.toml): before the first run it
# shows the files of pages/ ("common", ...); these links always show the titles above.
current = st.navigation(pages, position="hidden")
with st.sidebar:
    for page in pages:
        st.page_link(page)
current.run()
