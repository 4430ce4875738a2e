"""genrecls — the Streamlit entry point: page setup and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="genrecls — music genre, explained", page_icon="🎵", layout="wide")

pages = [
    st.Page("pages/classify.py", title="Classify", icon="🎧", url_path="classify", default=True),
    st.Page("pages/explore.py", title="Explore", icon="🔍", url_path="explore"),
    st.Page("pages/model.py", title="Model", icon="🧠", url_path="model"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
]
st.navigation(pages).run()
