// An error page's way back: the previous page, when there is one in this tab.

const back = document.getElementById('go-back');
if (back && history.length > 1) {
  back.hidden = false;
  back.addEventListener('click', () => history.back());
}
