"use strict";(self.rspackChunkautograder_check=self.rspackChunkautograder_check||[]).push([[232],{475(e,t,r){var o=r(601),a=r.n(o),n=r(314),c=(r.n(n))()(a());c.push([e.id,`/* The Check button and its verdicts dialog. */

.autograder-check-busy .jp-ToolbarButtonComponent-label::after {
  content: '…';
}

.autograder-check-busy .jp-ToolbarButtonComponent {
  cursor: progress;
}

.autograder-check-verdicts {
  max-width: 720px;
}

.autograder-check-table {
  border-collapse: collapse;
  width: 100%;
}

.autograder-check-table th,
.autograder-check-table td {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  padding: 4px 8px;
  text-align: left;
  vertical-align: top;
}

.autograder-check-message {
  white-space: pre-wrap;
}

.autograder-check-status-passed {
  color: var(--jp-success-color1);
  font-weight: bold;
}

.autograder-check-status-failed,
.autograder-check-status-error {
  color: var(--jp-error-color1);
  font-weight: bold;
}

.autograder-check-total {
  font-weight: bold;
  margin-top: 8px;
}

.autograder-check-note,
.autograder-check-left {
  color: var(--jp-ui-font-color2);
}

.autograder-check-error p {
  white-space: pre-wrap;
}
`,""]),r.d(t,{},{A:c})},314(e){e.exports=function(e){var t=[];return t.toString=function(){return this.map(function(t){var r="",o=void 0!==t[5];return t[4]&&(r+="@supports (".concat(t[4],") {")),t[2]&&(r+="@media ".concat(t[2]," {")),o&&(r+="@layer".concat(t[5].length>0?" ".concat(t[5]):""," {")),r+=e(t),o&&(r+="}"),t[2]&&(r+="}"),t[4]&&(r+="}"),r}).join("")},t.i=function(e,r,o,a,n){"string"==typeof e&&(e=[[null,e,void 0]]);var c={};if(o)for(var s=0;s<this.length;s++){var i=this[s][0];null!=i&&(c[i]=!0)}for(var u=0;u<e.length;u++){var l=[].concat(e[u]);o&&c[l[0]]||(void 0!==n&&(void 0===l[5]||(l[1]="@layer".concat(l[5].length>0?" ".concat(l[5]):""," {").concat(l[1],"}")),l[5]=n),r&&(l[2]&&(l[1]="@media ".concat(l[2]," {").concat(l[1],"}")),l[2]=r),a&&(l[4]?(l[1]="@supports (".concat(l[4],") {").concat(l[1],"}"),l[4]=a):l[4]="".concat(a)),t.push(l))}},t}},601(e){e.exports=function(e){return e[1]}},72(e){var t=[];function r(e){for(var r=-1,o=0;o<t.length;o++)if(t[o].identifier===e){r=o;break}return r}function o(e,o){for(var a={},n=[],c=0;c<e.length;c++){var s=e[c],i=o.base?s[0]+o.base:s[0],u=a[i]||0,l="".concat(i," ").concat(u);a[i]=u+1;var p=r(l),d={css:s[1],media:s[2],sourceMap:s[3],supports:s[4],layer:s[5]};if(-1!==p)t[p].references++,t[p].updater(d);else{var f=function(e,t){var r=t.domAPI(t);return r.update(e),function(t){t?(t.css!==e.css||t.media!==e.media||t.sourceMap!==e.sourceMap||t.supports!==e.supports||t.layer!==e.layer)&&r.update(e=t):r.remove()}}(d,o);o.byIndex=c,t.splice(c,0,{identifier:l,updater:f,references:1})}n.push(l)}return n}e.exports=function(e,a){var n=o(e=e||[],a=a||{});return function(e){e=e||[];for(var c=0;c<n.length;c++){var s=r(n[c]);t[s].references--}for(var i=o(e,a),u=0;u<n.length;u++){var l=r(n[u]);0===t[l].references&&(t[l].updater(),t.splice(l,1))}n=i}}},659(e){var t={};e.exports=function(e,r){var o=function(e){if(void 0===t[e]){var r=document.querySelector(e);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(e){r=null}t[e]=r}return t[e]}(e);if(!o)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");o.appendChild(r)}},540(e){e.exports=function(e){var t=document.createElement("style");return e.setAttributes(t,e.attributes),e.insert(t,e.options),t}},56(e,t,r){e.exports=function(e){var t=r.nc;t&&e.setAttribute("nonce",t)}},825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var t=e.insertStyleElement(e);return{update:function(r){var o,a,n;o="",r.supports&&(o+="@supports (".concat(r.supports,") {")),r.media&&(o+="@media ".concat(r.media," {")),(a=void 0!==r.layer)&&(o+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),o+=r.css,a&&(o+="}"),r.media&&(o+="}"),r.supports&&(o+="}"),(n=r.sourceMap)&&"u">typeof btoa&&(o+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),e.styleTagTransform(o,t,e.options)},remove:function(){var e;null===(e=t).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,t){if(t.styleSheet)t.styleSheet.cssText=e;else{for(;t.firstChild;)t.removeChild(t.firstChild);t.appendChild(document.createTextNode(e))}}},579(e,t,r){var o=r(72),a=r.n(o),n=r(825),c=r.n(n),s=r(659),i=r.n(s),u=r(56),l=r.n(u),p=r(540),d=r.n(p),f=r(113),h=r.n(f),v=r(475),g={};g.styleTagTransform=h(),g.setAttributes=l(),g.insert=i().bind(null,"head"),g.domAPI=c(),g.insertStyleElement=d(),a()(v.A,g),v.A&&v.A.locals&&v.A.locals}}]);