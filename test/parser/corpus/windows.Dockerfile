# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
ENV APP_HOME C:\app
WORKDIR C:\app
RUN New-Item -ItemType Directory -Path C:\data ; `
    Write-Host 'done'
COPY app\ C:\app\
CMD ["C:\\app\\server.exe"]
